/* Mailed files in the request's timeline: under a message, one chip per attachment its
 * details list (channels/email/attachments.py: name, type, size, sha256), with the name, the
 * type and the size. An image is a small thumbnail that opens full size; anything else is a
 * download link. Both come from GET /api/v1/requests/{id}/messages/{message_id}/attachments/
 * {sha256} (dispatch/attachments_api.py), which serves only safe images for display.
 *
 * `list(request, message)` gives the chips' list, or null for a message without files. The
 * request pane (console.js) and the passenger's whole-history timeline (passenger.js) both
 * show a message's files through it.
 */
"use strict";

(() => {
  // What the hub shows as an image (dispatch/attachments_api.py INLINE_IMAGES).
  const IMAGES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
  const SHA256 = /^[0-9a-f]{64}$/;

  /** The attachments a message's details list (a JSON string, as the hub keeps them). */
  function listed(message) {
    let entries = message?.details?.attachments;
    if (typeof entries === "string") {
      try { entries = JSON.parse(entries); } catch { return []; }
    }
    if (!Array.isArray(entries)) return [];
    return entries.filter((entry) => entry && SHA256.test(String(entry.sha256)));
  }

  const STYLESHEET = "/static/console/attachments.css";

  function createAttachments({ t, el, lang }) {
    // The request pane and the passenger's whole history each make their own: one sheet.
    if (!document.querySelector(`link[href="${STYLESHEET}"]`)) {
      document.head.append(el("link", { rel: "stylesheet", href: STYLESHEET }));
    }

    /** "840 B", "12 kB", "3.4 MB" ("3,4 Mt" in Finnish): decimal units, the reader's mark. */
    function humanSize(bytes) {
      const size = Number(bytes) || 0;
      if (size < 1000) return `${size} ${t("attachment_unit_b")}`;
      const [value, unit] = size < 1e6 ? [size / 1e3, "kb"] : [size / 1e6, "mb"];
      const digits = value < 10 ? 1 : 0;
      return `${new Intl.NumberFormat(lang(), { maximumFractionDigits: digits })
        .format(value)} ${t(`attachment_unit_${unit}`)}`;
    }

    function chip(request, message, file) {
      const name = String(file.name || "attachment");
      const type = String(file.type || "application/octet-stream");
      const href = `/api/v1/requests/${encodeURIComponent(request.id)}/messages/`
        + `${encodeURIComponent(message.id)}/attachments/${file.sha256}`;
      const facts = el("span", { className: "attachment-facts" },
        el("bdi", { className: "attachment-name" }, name),
        el("span", { className: "attachment-meta" }, `${type} · ${humanSize(file.size)}`));
      const image = IMAGES.has(type);
      const link = image
        ? el("a", { href, target: "_blank", rel: "noopener noreferrer",
          className: "attachment-link", "data-testid": "attachment-open",
          title: t("attachment_open", { name }) },
        el("img", { src: href, alt: name, loading: "lazy", decoding: "async",
          className: "attachment-thumb", "data-testid": "attachment-thumb" }), facts)
        : el("a", { href, download: name, className: "attachment-link",
          "data-testid": "attachment-download", title: t("attachment_download", { name }) },
        el("span", { className: "attachment-icon", "aria-hidden": "true" }, "⤓"), facts);
      return el("li", { className: `attachment${image ? " image" : ""}`,
        "data-testid": "attachment", "data-type": type }, link);
    }

    function list(request, message) {
      const files = listed(message);
      if (!files.length || !request?.id || !message?.id) return null;
      return el("ul", { className: "attachments", "aria-label": t("attachments") },
        files.map((file) => chip(request, message, file)));
    }

    return { list, humanSize };
  }

  window.TaxiConnect = Object.assign(window.TaxiConnect || {}, { createAttachments });
})();
