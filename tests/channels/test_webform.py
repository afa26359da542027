"""The web form and its JSON twin: retries are stored once, bad input is refused with a
reason naming the field and leaves nothing behind."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient

from hub import catalogue
from hub.errors import OperatorMustAct
from hub.settings import (
    AnswersSettings,
    CompanySettings,
    HttpSettings,
    IngestSettings,
    Settings,
    load_settings,
)
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import http_session, order, submit

RETRIES = 5
REFERENCE = re.compile(r'<strong class="reference">([^<]+)</strong>')


async def _post_json(base: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with http_session() as http, \
            http.post(f"{base}/api/v1/contact-requests", json=body) as resp:
        return resp.status, await resp.json()


async def _post_form(base: str, body: dict[str, Any]) -> tuple[int, str]:
    async with http_session() as http, http.post(f"{base}/form", data=body) as resp:
        return resp.status, await resp.text()


async def test_json_retries_on_two_processes_store_one_request(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    bases = [server_url(await hub()), server_url(await hub())]
    body = order("tok-json-retry-0001")
    answers = await asyncio.wait_for(asyncio.gather(*(
        _post_json(bases[n % 2], body) for n in range(RETRIES)
    )), 15)

    assert all(status in (200, 201) for status, _ in answers), answers
    assert len({receipt["reference"] for _, receipt in answers}) == 1
    assert len({receipt["id"] for _, receipt in answers}) == 1
    assert len({receipt["message_id"] for _, receipt in answers}) == 1
    assert sum(not receipt["duplicate"] for _, receipt in answers) == 1, answers

    agent = await dispatcher(await hub())
    listed = await agent.open_requests()
    assert [r["id"] for r in listed] == [answers[0][1]["id"]]
    found = await agent.request(answers[0][1]["id"])
    assert [m["body"] for m in found["messages"]] == ["Taksi Kamppiin"]


async def test_form_retries_on_two_processes_store_one_request(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    bases = [server_url(await hub()), server_url(await hub())]
    body = order("tok-form-retry-0001", language="en")
    answers = await asyncio.wait_for(asyncio.gather(*(
        _post_form(bases[n % 2], body) for n in range(RETRIES)
    )), 15)

    assert [status for status, _ in answers] == [201] * RETRIES
    references = {REFERENCE.search(page).group(1) for _, page in answers}  # type: ignore[union-attr]
    assert len(references) == 1

    agent = await dispatcher(await hub())
    listed = await agent.open_requests()
    assert [r["reference"] for r in listed] == list(references)
    found = await agent.request(listed[0]["id"])
    assert len(found["messages"]) == 1


async def test_idempotency_key_header_stands_for_the_token(hub: HubFactory) -> None:
    base = server_url(await hub())
    body = order("unused")
    del body["submission_token"]
    answers = []
    async with http_session() as http:
        for key in ("hdr-key-000001", "hdr-key-000001", "hdr-key-000002"):
            async with http.post(f"{base}/api/v1/contact-requests", json=body,
                                 headers={"Idempotency-Key": key}) as resp:
                answers.append((resp.status, await resp.json()))
    (s1, first), (s2, again), (s3, other) = answers
    assert (s1, s2, s3) == (201, 200, 201)
    assert again["message_id"] == first["message_id"] and again["duplicate"] is True
    # Another key is another message, threaded into the passenger's open request.
    assert other["message_id"] != first["message_id"]
    assert (other["id"], other["new_request"]) == (first["id"], False)


def _soon(days: float) -> str:
    return (datetime.now() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


# (what is wrong, JSON body, the fields the answer must name)
BAD_ORDERS: list[tuple[str, dict[str, Any], set[str]]] = [
    ("nothing at all", {}, {"phone", "message"}),
    ("no way to answer", {"message": "Taksi"}, {"phone"}),
    ("nothing ordered", {"phone": "0407654321"}, {"message"}),
    ("phone as a number", order("tok-bad-00001", phone=407654321), {"phone"}),
    ("message as a list", order("tok-bad-00002", message=["Taksi"]), {"message"}),
    ("passengers as a boolean", order("tok-bad-00003", passengers=True), {"passengers"}),
    ("passengers as a fraction", order("tok-bad-00004", passengers=2.5), {"passengers"}),
    ("passengers as words", order("tok-bad-00005", passengers="two"), {"passengers"}),
    ("no passengers", order("tok-bad-00006", passengers=0), {"passengers"}),
    ("a busload", order("tok-bad-00007", passengers=17), {"passengers"}),
    ("a short phone", order("tok-bad-00008", phone="12"), {"phone"}),
    ("letters for a phone", order("tok-bad-00009", phone="call me"), {"phone"}),
    ("a broken email", order("tok-bad-00010", email="aino@", phone=None), {"email"}),
    ("a pickup time in words", order("tok-bad-00011", pickup_time="tomorrow"), {"pickup_time"}),
    ("a pickup time past", order("tok-bad-00012", pickup_time="2020-01-01T10:00"),
     {"pickup_time"}),
    ("a pickup time next year", order("tok-bad-00013", pickup_time=_soon(400)),
     {"pickup_time"}),
    ("a token too short", order("tok"), {"submission_token"}),
    ("a token with spaces", order("tok bad 00014"), {"submission_token"}),
    ("an unknown field", order("tok-bad-00015", tip="5 EUR"), {"tip"}),
    ("a message too long", order("tok-bad-00016", message="x" * 4001), {"message"}),
    ("a NUL character", order("tok-bad-00017", message="Taksi\x00Kamppiin"), {"message"}),
    ("a lone surrogate", order("tok-bad-00018", name="Aino \ud800"), {"name"}),
]


async def _raw(base: str, path: str, body: bytes, content_type: str | None
               ) -> tuple[int, str, str]:
    headers = {"Content-Type": content_type} if content_type else {}
    async with http_session() as http, \
            http.post(f"{base}{path}", data=body, headers=headers) as resp:
        return resp.status, resp.content_type, await resp.text()


def _json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()  # ensure_ascii: a lone surrogate travels as \ud800


async def test_bad_json_orders_are_refused_naming_the_field_and_store_nothing(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    base = server_url(client)
    problems = []
    for what, body, fields in BAD_ORDERS:
        status, _, text = await _raw(base, "/api/v1/contact-requests", _json_bytes(body),
                                     "application/json")
        answer = json.loads(text)
        named = set(answer.get("fields", {}))
        if status != 422 or named != fields or not all(f in answer["error"] for f in fields):
            problems.append((what, status, answer))
    assert not problems, problems
    await _assert_nothing_stored_and_still_serving(client, dispatcher)


BAD_BODIES: list[tuple[str, bytes, str | None, int, str]] = [
    ("plain text", b'{"phone": "0407654321"}', "text/plain", 415, "application/json"),
    ("no content type", b'{"phone": "0407654321"}', None, 415, "application/json"),
    ("a form", b"phone=0407654321&message=Taksi", "application/x-www-form-urlencoded", 415,
     "application/json"),
    ("malformed JSON", b'{"phone": "0407654321",', "application/json", 400, "malformed JSON"),
    ("not UTF-8", b'{"phone": "0407654321", "name": "\xe4"}', "application/json", 400,
     "UTF-8"),
    ("an array", b'[{"phone": "0407654321"}]', "application/json", 400, "JSON object"),
    ("a string", b'"Taksi"', "application/json", 400, "JSON object"),
    ("deeply nested", b'{"message": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
     "application/json", 400, "nested"),
]


async def test_bad_json_bodies_are_refused_with_a_reason(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await hub()
    base = server_url(client)
    oversized = _json_bytes(order("tok-big-00001",
                                  message="x" * settings.http.max_body_bytes))
    cases = [*BAD_BODIES, ("oversized", oversized, "application/json", 413,
                           str(settings.http.max_body_bytes))]
    problems = []
    for what, body, content_type, expected, reason in cases:
        status, kind, text = await _raw(base, "/api/v1/contact-requests", body, content_type)
        if status != expected or kind != "application/json" or reason not in text:
            problems.append((what, status, kind, text[:200]))
    assert not problems, problems
    await _assert_nothing_stored_and_still_serving(client, dispatcher)


def _form_bytes(body: dict[str, Any]) -> bytes:
    return urlencode(body).encode("ascii")


# (what is wrong, form fields, the fields the page must mark)
BAD_FORMS: list[tuple[str, dict[str, Any], set[str]]] = [
    ("nothing at all", {}, {"phone", "message"}),
    ("a short phone", order("tok-form-bad-01", phone="12"), {"phone"}),
    ("a broken email", order("tok-form-bad-02", email="aino@example"), {"email"}),
    ("passengers as words", order("tok-form-bad-03", passengers="two"), {"passengers"}),
    ("a pickup time in words", order("tok-form-bad-04", pickup_time="soon"), {"pickup_time"}),
    ("a NUL character", order("tok-form-bad-05", name="Ai\x00no"), {"name"}),
    ("a message too long", order("tok-form-bad-06", message="x" * 4001), {"message"}),
]


async def test_bad_forms_are_shown_again_with_the_field_marked_and_store_nothing(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await hub()
    base = server_url(client)
    problems = []
    for what, body, fields in BAD_FORMS:
        status, kind, page = await _raw(base, "/form", _form_bytes({**body, "language": "en"}),
                                        "application/x-www-form-urlencoded")
        marked = set(re.findall(r'<p class="error" id="([a-z_]+)-error">', page))
        if status != 422 or kind != "text/html" or marked != fields:
            problems.append((what, status, kind, marked))

    form = "application/x-www-form-urlencoded"
    valid = _form_bytes(order("tok-form-bad-07"))
    oversized = _form_bytes(order("tok-form-bad-08", message="x" * settings.http.max_body_bytes))
    cases: list[tuple[str, bytes, str | None, int]] = [
        ("JSON", _json_bytes(order("tok-form-bad-09")), "application/json", 415),
        ("plain text", valid, "text/plain", 415),
        ("raw bytes not UTF-8", valid + b"&name=\xe4\xff", form, 400),
        ("percent-encoded bytes not UTF-8", valid + b"&name=Ain%E4", form, 400),
        ("oversized", oversized, form, 413),
    ]
    for what, body, content_type, expected in cases:
        status, kind, text = await _raw(base, "/form", body, content_type)
        if status != expected:
            problems.append((what, status, kind, text[:200]))
    assert not problems, problems
    await _assert_nothing_stored_and_still_serving(client, dispatcher)


async def _assert_nothing_stored_and_still_serving(client: TestClient[Any, Any],
                                                   dispatcher: DispatcherFactory) -> None:
    agent = await dispatcher(client)
    async with agent.http.get(f"{agent.base}/api/v1/requests",
                              params={"status": "queued,claimed,resolved"}) as resp:
        assert resp.status == 200
        assert (await resp.json())["requests"] == []
    async with agent.http.get(f"{agent.base}/readyz") as resp:
        assert resp.status == 200, await resp.text()
    receipt = await submit(agent.http, agent.base, "tok-valid-after-bad-input")
    assert receipt["new_request"] is True
    assert [r["id"] for r in await agent.open_requests()] == [receipt["id"]]


async def test_a_token_reused_for_a_different_order_is_refused_not_swallowed(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    agent = await dispatcher(client)
    first = await submit(agent.http, agent.base, "reuse-token-0001", message="Taksi Kamppiin")
    async with agent.http.post(f"{agent.base}/api/v1/contact-requests", json=order(
            "reuse-token-0001", message="Taksi Pasilaan")) as response:
        assert response.status == 422
        body = await response.json()
        assert body["fields"]["submission_token"]["code"] == "reused"
    # The same order again is still the same request.
    again = await submit(agent.http, agent.base, "reuse-token-0001", message="Taksi Kamppiin")
    assert again["reference"] == first["reference"]
    detail = await agent.request(first["id"])
    assert [m["body"] for m in detail["messages"]] == ["Taksi Kamppiin"]


async def test_the_confirmation_names_the_reference_once_and_no_unknown_wait(
    hub: HubFactory, settings: Settings
) -> None:
    """The acknowledgement already carries the reference: the page shows it once, in it; with
    nothing yet to estimate from, it has no wait sentence ("odotusaika ei arviota")."""
    client = await hub(dataclasses.replace(
        settings, answers=AnswersSettings(acknowledge=("webform",))))
    status, page = await _post_form(server_url(client), order("tok-confirm-once-01"))
    assert status == 201, page
    reference = REFERENCE.findall(page)
    assert len(reference) == 1, page
    assert page.count(reference[0]) == 1, page
    assert "Kiitos yhteydenotostasi." in page
    assert "odotusaika" not in page.lower() and "ei arviota" not in page


async def test_the_form_speaks_swedish_from_the_catalogue(
    hub: HubFactory, settings: Settings
) -> None:
    """Asked for Swedish (the switch's link, or a Finland-Swedish browser), the page, its
    errors and its confirmation are in Swedish, every word from the sv catalogue."""
    client = await hub(dataclasses.replace(
        settings, answers=AnswersSettings(acknowledge=("webform",))))
    base = server_url(client)
    sv = catalogue.words("sv", "form")
    async with http_session() as http:
        async with http.get(f"{base}/form", headers={"Accept-Language": "sv-FI,fi;q=0.8"}) \
                as resp:
            assert resp.status == 200
            page = await resp.text()
        async with http.get(f"{base}/form?lang=fi") as resp:
            finnish = await resp.text()
    assert '<html lang="sv">' in page
    for key in ("title", "intro", "name", "phone", "pickup_address", "passengers", "submit"):
        assert html.escape(str(sv[key])) in page, key
    assert "Tilaa taksi" not in page and "Order a taxi" not in page
    # The switch offers fi / sv / en, each named in its own language, this page's marked.
    link = re.compile(r'<a href="/form\?lang=(\w+)" hreflang="\w+" lang="\w+"'
                      r'( aria-current="page")?>([^<]+)</a>')
    assert link.findall(page) == [("fi", "", "Suomeksi"),
                                  ("sv", ' aria-current="page"', "På svenska"),
                                  ("en", "", "In English")]
    assert link.findall(finnish)[0] == ("fi", ' aria-current="page"', "Suomeksi")

    bad = {**order("tok-form-sv-01", phone="12"), "language": "sv"}
    status, page = await _post_form(base, bad)
    assert status == 422
    assert '<html lang="sv">' in page
    assert f"{sv['errors_title']}</h2>" in page
    assert f"{sv['phone']}: {sv['err_invalid_phone']}" in page  # "är inte ett giltigt ..."

    status, page = await _post_form(base, {**order("tok-form-sv-02"), "language": "sv"})
    assert status == 201, page
    assert html.escape(str(sv["thanks_title"])) in page
    [reference] = REFERENCE.findall(page)
    assert (f"Tack för att du kontaktade oss. Ditt referensnummer är "
            f'<strong class="reference">{reference}</strong>.') in page


URGENT = "09 123 4567"  # company.urgent_phone as the company advertises it
FORM_PAGES = ("form", "busy", "too_many")


def _paragraphs(page: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each paragraph of the page as a reader meets it (tags gone, spaces folded), with
    its links as (href, text)."""
    found = []
    for inner in re.findall(r"<p(?: [^>]*)?>(.*?)</p>", page, re.S):
        links = [(html.unescape(href), " ".join(html.unescape(text).split()))
                 for href, text in re.findall(r'<a href="([^"]*)"[^>]*>(.*?)</a>', inner)]
        said = " ".join(html.unescape(re.sub(r"<[^>]+>", "", inner)).split())
        found.append((said, links))
    return found


async def _passenger_pages(hub: HubFactory, settings: Settings, urgent_phone: str
                           ) -> dict[str, dict[str, str]]:
    """Per language, the pages a passenger can meet that may ask them to call: the form, the
    answer of a hub at capacity (503) and of one address past its allowance (429). Every
    contact is refused at capacity (max_in_flight 0); each language posts from an address
    of its own behind the trusted proxy, its second post past the allowance of one."""
    client = await hub(dataclasses.replace(
        settings, company=CompanySettings(urgent_phone=urgent_phone),
        http=HttpSettings(trusted_proxies=("127.0.0.1",)),
        ingest=IngestSettings(max_in_flight=0, form_posts_per_address_per_minute=1)))
    base = server_url(client)
    pages: dict[str, dict[str, str]] = {}
    async with http_session() as http:
        for n, lang in enumerate(catalogue.LANGUAGES):
            async with http.get(f"{base}/form?lang={lang}") as resp:
                assert resp.status == 200
                pages[lang] = {"form": await resp.text()}
            address = {"X-Forwarded-For": f"203.0.113.{n + 10}"}
            body = {**order(f"tok-urgent-{lang}-01"), "language": lang}
            for expected, name in ((503, "busy"), (429, "too_many")):
                async with http.post(f"{base}/form?lang={lang}", data=body,
                                     headers=address) as resp:
                    assert resp.status == expected, await resp.text()
                    pages[lang][name] = await resp.text()
    return pages


async def test_with_an_urgent_number_the_form_and_its_refusals_offer_it_as_a_link(
    hub: HubFactory, settings: Settings
) -> None:
    """Issue 15 item 7: "Kiireellisissä asioissa soita" named no number. With
    company.urgent_phone set, the form, its busy page and its too-many page say "call
    <number>" in fi, sv and en, the number a tel: link dialling it in full."""
    pages = await _passenger_pages(hub, settings, URGENT)
    for lang, shown in pages.items():
        t = catalogue.words(lang, "form")
        call = catalogue.text(lang, "form.urgent_call", phone=URGENT)
        expected = {"form": f"{t['intro']} {call}", "busy": f"{t['busy_back']} {call}",
                    "too_many": f"{t['busy_back']} {call}"}
        for name in FORM_PAGES:
            page = shown[name]
            assert f'<html lang="{lang}">' in page
            asking = [(said, links) for said, links in _paragraphs(page) if links]
            assert asking == [(expected[name], [("tel:+35891234567", URGENT)])], (lang, name)
            # "09 123 4567" stays on one line.
            assert ">09\u00a0123\u00a04567</a>" in page, (lang, name)


# The words that asked the passenger to call with no number to call (issue 15 item 7).
CALL_WORDS = {"fi": r"\bsoit", "sv": r"\bring\b", "en": r"\bcall\b"}


async def test_without_an_urgent_number_no_page_asks_the_passenger_to_call(
    hub: HubFactory, settings: Settings
) -> None:
    pages = await _passenger_pages(hub, settings, "")
    for lang, shown in pages.items():
        t = catalogue.words(lang, "form")
        for name in FORM_PAGES:
            page = shown[name]
            said = [text for text, _ in _paragraphs(page)]
            assert "tel:" not in page, (lang, name)
            assert not [s for s in said if re.search(CALL_WORDS[lang], s, re.I)], (lang, said)
        assert t["intro"] in [text for text, _ in _paragraphs(shown["form"])]
        assert t["busy_back"] in [text for text, _ in _paragraphs(shown["busy"])]


def test_an_urgent_number_that_is_no_number_stops_start_up() -> None:
    assert load_settings(None, environ={
        "TAXICONNECT_COMPANY_URGENT_PHONE": "+358 9 123 4567"}).company.urgent_phone \
        == "+358 9 123 4567"
    with pytest.raises(OperatorMustAct, match=r"company\.urgent_phone"):
        load_settings(None, environ={"TAXICONNECT_COMPANY_URGENT_PHONE": "soita meille"})
