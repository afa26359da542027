"""The hosted taxi-order form and its confirmation, rendered as accessible HTML in the
passenger's language: its words are the passenger catalogue's `form.*` (`hub.catalogue`)."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from hub import catalogue
from hub.phone import to_e164

STYLE = "/static/form/form.css"


@dataclass(frozen=True)
class UrgentPhone:
    """The company's number for passengers in a hurry (`company.urgent_phone`): shown as the
    company advertises it, dialled as E.164."""

    shown: str
    dial: str

    @classmethod
    def of(cls, text: str, default_region: str) -> UrgentPhone | None:
        """None for an empty setting: then no page asks the passenger to call."""
        text = " ".join(text.split())
        return cls(text, to_e164(text, default_region)) if text else None


def _urgent(t: Mapping[str, str], phone: UrgentPhone | None) -> str:
    """The sentence asking to call the number (a tel: link), to follow another in its
    paragraph; nothing without a number, so no page promises one it cannot give."""
    if phone is None:
        return ""
    before, _, after = t["urgent_call"].partition("{phone}")
    number = escape(phone.shown).replace(" ", "\u00a0")  # kept on one line
    link = f'<a href="tel:{escape(phone.dial)}" class="urgent-phone">{number}</a>'
    return f" {escape(before)}{link}{escape(after)}"


def _page(lang: str, title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{STYLE}">
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""


def _field(name: str, t: Mapping[str, str], values: Mapping[str, str],
           errors: Mapping[str, str], *, kind: str = "text", autocomplete: str = "",
           hint: str = "", extra: str = "") -> str:
    value = escape(values.get(name, ""))
    described = []
    hint_html = error_html = ""
    if hint:
        hint_html = f'<p class="hint" id="{name}-hint">{escape(hint)}</p>'
        described.append(f"{name}-hint")
    invalid = ""
    if name in errors:
        message = t.get(f"err_{errors[name]}", errors[name])
        error_html = (f'<p class="error" id="{name}-error">{escape(t[name])}: '
                      f"{escape(message)}</p>")
        described.append(f"{name}-error")
        invalid = ' aria-invalid="true"'
    aria = f' aria-describedby="{" ".join(described)}"' if described else ""
    auto = f' autocomplete="{autocomplete}"' if autocomplete else ""
    if kind == "textarea":
        control = (f'<textarea id="{name}" name="{name}" rows="4"{aria}{invalid}>'
                   f"{value}</textarea>")
    else:
        control = (f'<input id="{name}" name="{name}" type="{kind}" value="{value}"'
                   f"{auto}{aria}{invalid}{extra}>")
    return (f'<div class="field"><label for="{name}">{escape(t[name])}</label>'
            f"{hint_html}{control}{error_html}</div>")


@functools.cache
def _words(lang: str) -> Mapping[str, str]:
    return {key: str(value) for key, value in catalogue.words(lang, "form").items()}


def _switch(lang: str) -> str:
    """The form in each language, each named in its own; the page's own is marked current."""
    current = ' aria-current="page"'
    links = "".join(
        f'<li><a href="/form?lang={other}" hreflang="{other}" lang="{other}"'
        f'{current if other == lang else ""}>'
        f"{escape(_words(other)['language_name'])}</a></li>"
        for other in catalogue.LANGUAGES)
    return (f'<nav class="lang" aria-label="{escape(_words(lang)["language_switch"])}">'
            f"<ul>{links}</ul></nav>")


def form_page(lang: str, *, values: Mapping[str, str] | None = None,
              errors: Mapping[str, str] | None = None,
              urgent: UrgentPhone | None = None) -> str:
    t = _words(lang)
    values = dict(values or {})
    errors = dict(errors or {})
    token = values.get("submission_token") or secrets.token_urlsafe(18)
    summary = ""
    if errors:
        items = "".join(
            f'<li><a href="#{escape(f)}">{escape(t.get(f, f))}: '
            f"{escape(t.get(f'err_{code}', code))}</a></li>"
            for f, code in errors.items()
        )
        summary = (f'<div class="errors" role="alert" tabindex="-1" id="errors">'
                   f"<h2>{escape(t['errors_title'])}</h2><ul>{items}</ul></div>")
    fields = "".join([
        _field("name", t, values, errors, autocomplete="name"),
        _field("phone", t, values, errors, kind="tel", autocomplete="tel",
               hint=t["contact_hint"]),
        _field("email", t, values, errors, kind="email", autocomplete="email"),
        _field("pickup_address", t, values, errors, autocomplete="street-address"),
        _field("destination", t, values, errors),
        _field("pickup_time", t, values, errors, kind="datetime-local",
               hint=t["pickup_time_hint"]),
        _field("passengers", t, values, errors, kind="number",
               extra=' min="1" max="16" inputmode="numeric"'),
        _field("message", t, values, errors, kind="textarea"),
    ])
    body = f"""{_switch(lang)}
<h1>{escape(t['title'])}</h1>
<p>{escape(t['intro'])}{_urgent(t, urgent)}</p>
{summary}
<form method="post" action="/form?lang={lang}" accept-charset="utf-8" novalidate>
<input type="hidden" name="submission_token" value="{escape(token)}">
<input type="hidden" name="language" value="{lang}">
{fields}
<button type="submit">{escape(t['submit'])}</button>
</form>"""
    return _page(lang, t["title"], body)


def thanks_page(lang: str, reference: str, notice: str | None = None,
                answer: str | None = None) -> str:
    t = _words(lang)
    shown = (f'<p class="notice" role="alert">{escape(notice)}</p>\n' if notice else "")
    strong = f'<strong class="reference">{escape(reference)}</strong>'
    if answer and reference in answer:
        # The answer names the reference itself: shown once, in it.
        shown += f'<p class="answer">{escape(answer).replace(escape(reference), strong, 1)}</p>\n'
    else:
        if answer:
            shown += f'<p class="answer">{escape(answer)}</p>\n'
        shown += f"<p>{escape(t['thanks_body'])} {strong}</p>\n"

    body = f"""<h1>{escape(t['thanks_title'])}</h1>
{shown}<p>{escape(t['thanks_hint'])}</p>
<p><a href="/form?lang={lang}">{escape(t['new'])}</a></p>"""
    return _page(lang, t["thanks_title"], body)


def announced_page(lang: str, notice: str, urgent: UrgentPhone | None = None) -> str:
    """An announcement-only notice answered the form: nothing was kept, no reference."""
    t = _words(lang)
    body = f"""<h1>{escape(t['announced_title'])}</h1>
<p class="notice" role="alert">{escape(notice)}</p>
<p>{escape(t['announced_body'])}{_urgent(t, urgent)}</p>"""
    return _page(lang, t["announced_title"], body)


@functools.cache
def too_many_page(lang: str, urgent: UrgentPhone | None = None) -> bytes:
    t = _words(lang)
    body = f"""<h1>{escape(t['too_many_title'])}</h1>
<p>{escape(t['too_many'])}</p>
<p>{escape(t['busy_back'])}{_urgent(t, urgent)}</p>"""
    return _page(lang, t["too_many_title"], body).encode("utf-8")


@functools.cache
def busy_page(lang: str, urgent: UrgentPhone | None = None) -> bytes:
    """Rendered once: past capacity, refusing must cost next to nothing."""
    t = _words(lang)
    body = f"""<h1>{escape(t['busy_title'])}</h1>
<p>{escape(t['busy'])}</p>
<p>{escape(t['busy_back'])}{_urgent(t, urgent)}</p>"""
    return _page(lang, t["busy_title"], body).encode("utf-8")
