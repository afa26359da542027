/* Admin page, a passenger's data (dispatch/subject_api.py): export everything the hub keeps
 * about one phone number or email address as a ZIP download, or erase it after a confirmation
 * that names what will go. Both are in the audit trail. The section's markup is made here,
 * into admin.js's empty section of the same name.
 */
"use strict";

(() => {
  const BASE = "/api/v1/admin/subject";
  const KINDS = ["phone", "email"];

  function createSubject({ t, el }) {
    const section = document.querySelector('.admin-section[data-section="subject"]');
    const title = el("h1", { id: "subject-heading" });
    const intro = el("p", { className: "muted" });
    const status = el("p", { className: "admin-status", testid: "subject-status" });
    status.setAttribute("role", "status");
    const kind = el("select", { id: "subject-kind", testid: "subject-kind" },
      KINDS.map((value) => el("option", { value })));
    const value = el("input", { id: "subject-value", testid: "subject-value", maxLength: 320,
      autocomplete: "off", required: true });
    const labels = { kind: el("label", { htmlFor: kind.id }),
      value: el("label", { htmlFor: value.id }) };
    const exportButton = el("button", { type: "submit", className: "primary",
      testid: "subject-export" });
    const eraseButton = el("button", { type: "button", testid: "subject-erase" });
    const question = el("span", { className: "confirm", testid: "subject-confirm-text" });
    const yes = el("button", { type: "button", className: "danger",
      testid: "subject-confirm-yes" });
    const no = el("button", { type: "button", className: "quiet", testid: "subject-cancel" });
    const confirmBox = el("div", { className: "row", hidden: true }, [question, yes, no]);
    const form = el("form", { className: "add-form", noValidate: true, testid: "subject-form" }, [
      el("div", { className: "field" }, [labels.kind, kind]),
      el("div", { className: "field" }, [labels.value, value]),
      el("div", { className: "row end" }, [eraseButton, exportButton]),
      confirmBox,
    ]);
    section?.append(el("section", { className: "card admin-card" },
      [title, intro, status, form]));

    function say(text, kindOf = "ok") {
      status.dataset.kind = kindOf;
      status.textContent = text;
    }

    function body() {
      const given = value.value.trim();
      return given ? { [kind.value]: given } : null;
    }

    function busy(on) {
      for (const button of [exportButton, eraseButton, yes]) button.disabled = on;
      if (on) say(t("subject_working"));
    }

    /** The API's reason for a refusal, in the page's words where it has them. */
    async function refusal(response) {
      if (response.status === 404) return t("subject_not_found");
      let reason = `HTTP ${response.status}`;
      try { reason = (await response.json()).error || reason; } catch (_) { /* not JSON */ }
      return t("subject_failed", { reason });
    }

    async function post(path, json) {
      return fetch(`${BASE}/${path}`, { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(json) });
    }

    async function doExport(event) {
      event.preventDefault();
      const json = body();
      if (!json) return say(t("subject_required"), "error");
      busy(true);
      try {
        const response = await post("export", json);
        if (!response.ok) return say(await refusal(response), "error");
        const name = /filename="([^"]+)"/.exec(
          response.headers.get("Content-Disposition") || "")?.[1] || "export.zip";
        const url = URL.createObjectURL(await response.blob());
        const link = el("a", { href: url, download: name, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
        say(t("subject_exported", { name }));
      } catch (_) {
        say(t("error_network"), "error");
      } finally {
        busy(false);
      }
    }

    function askErase() {
      const json = body();
      if (!json) return say(t("subject_required"), "error");
      question.textContent = t("subject_confirm", { who: value.value.trim() });
      confirmBox.hidden = false;
      yes.focus();
    }

    async function doErase() {
      const json = body();
      confirmBox.hidden = true;
      if (!json) return;
      busy(true);
      try {
        const response = await post("erase", json);
        if (!response.ok) return say(await refusal(response), "error");
        const { erased } = await response.json();
        value.value = "";
        say(t("subject_erased", erased));
      } catch (_) {
        say(t("error_network"), "error");
      } finally {
        busy(false);
      }
    }

    form.addEventListener("submit", doExport);
    eraseButton.addEventListener("click", askErase);
    yes.addEventListener("click", doErase);
    no.addEventListener("click", () => { confirmBox.hidden = true; });

    function render() {
      title.textContent = t("subject_title");
      intro.textContent = t("subject_intro");
      labels.kind.textContent = t("subject_kind");
      labels.value.textContent = t("subject_value");
      for (const option of kind.options) option.textContent = t(`subject_kind_${option.value}`);
      exportButton.textContent = t("subject_export");
      eraseButton.textContent = t("subject_erase");
      yes.textContent = t("subject_confirm_yes");
      no.textContent = t("subject_cancel");
    }

    function activate() {
      say("");
      confirmBox.hidden = true;
      render();
    }

    return { activate, render };
  }

  const admin = globalThis.TaxiAdmin || (globalThis.TaxiAdmin = { sections: {} });
  admin.sections.subject = createSubject;
})();
