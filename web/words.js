/* The pages' words: the console, admin, reports and wallboard pages show nothing but
 * entries of the page catalogue (hub/catalogue/console/<lang>.json, with the hub's error
 * texts under error.<code>), loaded from GET /console/words/<lang>.json before the first
 * render and again on a language switch.
 *
 * A script's `t` is `words.scope("queue", ...)`: a key is looked up under each of its
 * prefixes in turn ("queue.lane_all"), then as a whole ("error.login_taken"). A plural entry
 * ({one, other, ...}) takes its form from values.count by Intl.PluralRules of the language.
 */
"use strict";

(() => {
  const LANGUAGES = ["fi", "en"];
  const RETRY_MS = 3000;
  const loaded = new Map(); // language -> Promise of its entries, fetched once per page

  let current = { lang: "fi", entries: {} };

  function load(lang) {
    if (!loaded.has(lang)) {
      const entries = fetch(`/console/words/${lang}.json`, { credentials: "omit" })
        .then((resp) => {
          if (!resp.ok) throw new Error(`words ${lang}: HTTP ${resp.status}`);
          return resp.json();
        });
      entries.catch(() => loaded.delete(lang)); // a failed load is tried again next time
      loaded.set(lang, entries);
    }
    return loaded.get(lang);
  }

  /** Makes `lang` the language every scope speaks, once its words have arrived: waited
   * for however long the hub takes to answer, since a page has nothing to say without them. */
  async function use(lang) {
    const chosen = LANGUAGES.includes(lang) ? lang : LANGUAGES[0];
    for (;;) {
      try {
        current = { lang: chosen, entries: await load(chosen) };
        return chosen;
      } catch (_) {
        await new Promise((done) => { window.setTimeout(done, RETRY_MS); });
      }
    }
  }

  function fill(text, values) {
    if (!values) return text;
    return text.replace(/\{(\w+)\}/g,
      (whole, name) => (name in values ? String(values[name]) : whole));
  }

  function form(entry, values) {
    if (typeof entry === "string") return entry;
    const count = Number(values?.count);
    const category = new Intl.PluralRules(current.lang).select(Number.isFinite(count) ? count : 0);
    return entry[category] ?? entry.other;
  }

  /** A `t(key, values)` for a script whose keys live under `prefixes`; t.has(key) says
   * whether the catalogue has the key, t.raw(key, values) gives the text unfilled. */
  function scope(...prefixes) {
    const find = (key) => {
      for (const prefix of prefixes) {
        const entry = current.entries[`${prefix}.${key}`];
        if (entry !== undefined) return entry;
      }
      return current.entries[key];
    };
    const raw = (key, values) => {
      const entry = find(key);
      return entry === undefined ? key : form(entry, values);
    };
    const t = (key, values) => fill(raw(key, values), values);
    t.has = (key) => find(key) !== undefined;
    t.raw = raw;
    return t;
  }

  /** The catalogue's sentence for an error answer's `code` with its `params` in this
   * language, or null when the answer has no code the catalogue knows. */
  function errorSentence(body) {
    const entry = body?.code ? current.entries[`error.${body.code}`] : undefined;
    if (entry === undefined) return null;
    const values = body.params || {};
    return fill(form(entry, values), values);
  }

  /** A refused field's mark for the hub's code of it ("required", "too_short", a phone
   * number's "phone_invalid"): the catalogue's field.<code>, else that code's error sentence
   * when it needs no values; null when the catalogue has neither. */
  function fieldText(code) {
    const entry = current.entries[`field.${code}`] ?? current.entries[`error.${code}`];
    if (entry === undefined) return null;
    const text = form(entry, {});
    return /\{\w+\}/.test(text) ? null : text;
  }

  /** The words for an error answer of the hub: its code's sentence in this language, else
   * the hub's own `error` reason, else `fallback`. */
  function errorText(body, fallback = "") {
    return errorSentence(body) ?? (body?.error || fallback);
  }

  window.TaxiConnect = window.TaxiConnect || {};
  window.TaxiConnect.words = {
    LANGUAGES, use, scope, errorText, errorSentence, fieldText, lang: () => current.lang,
  };
})();
