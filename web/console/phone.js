/* Phone numbers as a dispatcher reads them aloud: the one formatter every part of the console
 * uses wherever a number is shown (queue rows, callbacks, the passenger card, calls, caller
 * notices, the composer). The hub stores E.164 (+358507654321); a tel: link keeps that form.
 *
 * A Finnish number is shown nationally, with the trunk 0 and its area or operator code apart:
 * "050 765 4321", "09 123 4567". Any other number stays international, with spaces after
 * the country code and between groups: "+46 701 234 567". Anything that is not E.164 (an
 * extension, "anonymous", a SIP address) is shown as it came.
 */
"use strict";

(() => {
  const HOME = "358"; // the hub's phone.default_region is FI (dispatch/request_search.py)
  const E164 = /^\+[1-9]\d{5,14}$/;
  // Country codes of one and two digits (ITU-T E.164 list); all others have three.
  const ONE_DIGIT = new Set(["1", "7"]);
  const TWO_DIGITS = new Set([
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
    "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
    "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
  ]);
  // Finnish area codes of one digit after the 0 (Helsinki 09, Turku 02, ...); the rest
  // (mobile 040-050, 0100, 0800 ...) are read with two or more.
  const FI_SHORT_AREAS = new Set(["2", "3", "5", "6", "8", "9"]);

  /** Digits in groups of three from the left; a last digit alone joins the group before. */
  function threes(digits) {
    const out = [];
    for (let at = 0; at < digits.length; at += 3) out.push(digits.slice(at, at + 3));
    if (out.length > 1 && out[out.length - 1].length === 1) {
      const last = out.pop();
      out.push(out.pop() + last);
    }
    return out;
  }

  /** A Finnish subscriber number as it is read: 765 4321, 1234 5678, 123 456. */
  function subscriber(digits) {
    const n = digits.length;
    if (n <= 5) return [digits];
    if (n === 6) return [digits.slice(0, 3), digits.slice(3)];
    if (n <= 8) return [digits.slice(0, n - 4), digits.slice(n - 4)];
    return threes(digits);
  }

  function national(rest) {
    // 0800, 0100, 0600 ...: service numbers; 09 Helsinki; 050, 020: mobile and nationwide,
    // not the 05 or 02 area (no subscriber number starts with 0).
    const size = /^[1-9]00/.test(rest) ? 3
      : FI_SHORT_AREAS.has(rest[0]) && rest[1] !== "0" ? 1 : 2;
    return [`0${rest.slice(0, size)}`, ...subscriber(rest.slice(size))].join(" ");
  }

  /** The number as shown: Finnish numbers nationally, others internationally with spaces. */
  function formatPhone(number) {
    const text = String(number ?? "").trim();
    if (!E164.test(text)) return text;
    const digits = text.slice(1);
    if (digits.startsWith(HOME) && digits.length > HOME.length + 4) {
      return national(digits.slice(HOME.length));
    }
    const code = ONE_DIGIT.has(digits[0]) ? digits.slice(0, 1)
      : TWO_DIGITS.has(digits.slice(0, 2)) ? digits.slice(0, 2) : digits.slice(0, 3);
    return [`+${code}`, ...threes(digits.slice(code.length))].join(" ");
  }

  window.TaxiConnect = Object.assign(window.TaxiConnect || {}, { formatPhone });
})();
