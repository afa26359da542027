/* How many SMS segments a text takes, and in which encoding (3GPP TS 23.038).
 *
 * A port of channels/sms/segments.py, which the hub and the gateways' bills follow: the
 * composer must show the dispatcher the same count the passenger's operator charges for.
 * GSM-7 carries 160 septets single and 153 per part; the extension characters take two
 * septets and are never split between parts. Anything outside the GSM-7 tables makes the
 * whole message UCS-2: 70 UTF-16 code units single, 67 per part, a surrogate pair never split.
 */
"use strict";

(() => {
  const GSM7_BASIC = new Set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    + "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà");
  const GSM7_EXTENSION = new Set("\f^{}\\[~]|€");

  const SINGLE = { gsm7: 160, ucs2: 70 };
  const PER_PART = { gsm7: 153, ucs2: 67 };

  /** {encoding: "gsm7"|"ucs2", count, units, remaining}, as count_segments answers:
   * `count` is 0 for an empty text, `units` are septets or UTF-16 code units, `remaining`
   * the units still free in the last part. */
  function countSegments(text) {
    const chars = [...text]; // code points, as Python walks a str
    const gsm = chars.every((ch) => GSM7_BASIC.has(ch) || GSM7_EXTENSION.has(ch));
    const encoding = gsm ? "gsm7" : "ucs2";
    const widths = chars.map((ch) => (gsm ? (GSM7_EXTENSION.has(ch) ? 2 : 1)
      : (ch.codePointAt(0) > 0xFFFF ? 2 : 1)));
    const units = widths.reduce((sum, width) => sum + width, 0);
    if (units === 0) return { encoding, count: 0, units: 0, remaining: SINGLE[encoding] };
    if (units <= SINGLE[encoding]) {
      return { encoding, count: 1, units, remaining: SINGLE[encoding] - units };
    }
    const size = PER_PART[encoding];
    let parts = 1;
    let used = 0;
    for (const width of widths) { // a two-unit character never straddles two parts
      if (used + width > size) {
        parts += 1;
        used = 0;
      }
      used += width;
    }
    return { encoding, count: parts, units, remaining: size - used };
  }

  globalThis.TaxiConnect = Object.assign(globalThis.TaxiConnect || {}, { countSegments });
})();
