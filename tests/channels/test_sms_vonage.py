"""Vonage SMS through the hub's real webhooks: signed inbound SMS in each of Vonage's three
encodings, long SMS put together from their parts (or delivered incomplete after the wait),
replies sent to a local server speaking Vonage's SMS API, and its delivery receipts."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient

from channels.sms.concat import MISSING_PART
from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    OutboundSettings,
    Secret,
    Settings,
    SmsSettings,
    VonageSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import VONAGE_API_KEY, VONAGE_API_SECRET, FakeVonage, vonage_signature
from tests.helpers import Dispatcher, eventually

SIGNATURE_SECRET = "vonage-test-signature-secret"
PASSENGER = "+358401112233"
MSISDN = PASSENGER.removeprefix("+")  # Vonage writes numbers without '+'
COMPANY_NUMBER = "358451234567"
DLR_PATH = "/webhooks/sms/vonage/dlr"
INBOUND_PATH = "/webhooks/sms/vonage"

Client = TestClient[Any, Any]


async def _hub(hub: HubFactory, settings: Settings, vonage: FakeVonage,
               concat_wait_s: float = 60.0) -> Client:
    port = free_port()
    return await hub(dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "vonage_sms")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(concat_wait_s=concat_wait_s, vonage=VonageSettings(
            api_key=VONAGE_API_KEY, api_secret=Secret(VONAGE_API_SECRET),
            signature_secret=Secret(SIGNATURE_SECRET), from_number="TaksiABC",
            api_url=vonage.url)),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=4),
    ), port=port)


def _sms(message_id: str, text: str, **extra: str) -> dict[str, str]:
    """An inbound SMS as Vonage's SMS API sends it, unsigned."""
    return {"msisdn": MSISDN, "to": COMPANY_NUMBER, "messageId": message_id, "text": text,
            "type": "text", "keyword": (text.split() or [""])[0].upper(),
            "api-key": VONAGE_API_KEY,
            "message-timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"), **extra}


def _part(message_id: str, text: str, ref: str, part: int, total: int) -> dict[str, str]:
    return _sms(message_id, text, concat="true", **{
        "concat-ref": ref, "concat-total": str(total), "concat-part": str(part)})


def _signed(params: dict[str, str], secret: str = SIGNATURE_SECRET) -> dict[str, str]:
    signed = {**params, "timestamp": str(int(time.time())), "nonce": str(uuid.uuid4())}
    signed["sig"] = vonage_signature(signed, secret, "md5hash")
    return signed


async def _post_json(client: Client, params: dict[str, str], path: str = INBOUND_PATH) -> int:
    response = await client.post(path, json=params)
    return response.status


async def _post_form(client: Client, params: dict[str, str]) -> int:
    response = await client.post(INBOUND_PATH, data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    return response.status


async def _get(client: Client, params: dict[str, str]) -> int:
    response = await client.get(INBOUND_PATH, params=params)
    return response.status


async def _only_request(agent: Dispatcher, messages: int = 1) -> dict[str, Any]:
    """The one open request, once it holds `messages` messages."""
    async def probe() -> dict[str, Any] | None:
        found = await agent.open_requests()
        if not found:
            return None
        assert len(found) == 1, found
        detail = await agent.request(found[0]["id"])
        return detail if len(detail["messages"]) >= messages else None
    return await eventually(probe, what=f"a request with {messages} message(s)")


async def test_signed_sms_in_each_encoding_becomes_a_request_with_an_e164_number(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeVonage() as vonage:
        client = await _hub(hub, settings, vonage)
        agent = await dispatcher(client)
        assert await _get(client, _signed(_sms("0A0000001", "Taksi Kamppiin"))) == 200
        assert await _post_json(client, _signed(_sms("0A0000002", "kello 18"))) == 200
        assert await _post_form(client, _signed(_sms("0A0000003", "kiitos"))) == 200

        request = await _only_request(agent, messages=3)
        assert request["channel"] == "sms"
        assert request["contact"]["phones"] == [PASSENGER]
        by_body = {m["body"]: m for m in request["messages"]}
        assert sorted(by_body) == ["Taksi Kamppiin", "kello 18", "kiitos"]
        assert by_body["kello 18"]["details"] == {
            "gateway": "vonage", "from": PASSENGER, "to": COMPANY_NUMBER}


async def test_missing_or_wrong_signature_is_refused_and_nothing_is_stored(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeVonage() as vonage:
        client = await _hub(hub, settings, vonage)
        agent = await dispatcher(client)
        unsigned = _sms("0B0000001", "ei allekirjoitusta")
        wrong = _signed(_sms("0B0000002", "väärä avain"), secret="not-the-secret")
        tampered = {**_signed(_sms("0B0000003", "alkuperäinen")), "text": "muutettu"}
        old = _sms("0B0000004", "vanha")
        old["timestamp"] = str(int(time.time()) - 3600)
        old["sig"] = vonage_signature(old, SIGNATURE_SECRET, "md5hash")
        for params in (unsigned, wrong, tampered, old):
            response = await client.post(INBOUND_PATH, json=params)
            assert response.status == 403
            assert "sig" in (await response.json())["error"]
        assert await _get(client, unsigned) == 403
        assert await _post_json(client, {"messageId": "x", "status": "delivered"},
                                DLR_PATH) == 403
        assert await agent.open_requests() == []

        assert await _post_json(client, _signed(_sms("0B0000005", "allekirjoitettu"))) == 200
        request = await _only_request(agent)
        assert [m["body"] for m in request["messages"]] == ["allekirjoitettu"]


async def test_the_same_message_id_five_times_at_once_is_stored_once(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeVonage() as vonage:
        client = await _hub(hub, settings, vonage)
        agent = await dispatcher(client)
        params = _signed(_sms("0C0000001", "Taksi asemalle"))
        statuses = await asyncio.gather(*(_post_json(client, params) for _ in range(5)))
        assert statuses == [200] * 5
        await asyncio.sleep(0.2)
        request = await _only_request(agent)
        assert [m["body"] for m in request["messages"]] == ["Taksi asemalle"]


async def test_parts_out_of_order_become_one_message_in_order(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    texts = ["Taksi Helsinki-Vantaalle huomenna ", "kello 6.30, kaksi matkustajaa ",
             "ja kolme laukkua."]
    async with FakeVonage() as vonage:
        client = await _hub(hub, settings, vonage)
        agent = await dispatcher(client)
        for number in (3, 1):
            params = _part(f"0D000000{number}", texts[number - 1], "7A", number, 3)
            assert await _post_json(client, _signed(params)) == 200
        assert await agent.open_requests() == []  # kept until the set is complete

        assert await _post_json(client, _signed(_part("0D0000002", texts[1], "7A", 2, 3))) == 200
        request = await _only_request(agent)
        assert [m["body"] for m in request["messages"]] == ["".join(texts)]
        details = request["messages"][0]["details"]
        assert details["parts"] == "3/3" and "incomplete" not in details
        assert request["contact"]["phones"] == [PASSENGER]


async def test_a_part_posted_twice_is_kept_once(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeVonage() as vonage:
        client = await _hub(hub, settings, vonage)
        agent = await dispatcher(client)
        first = _part("0E0000001", "Onko auto jo ", "12", 1, 2)
        assert await _get(client, _signed(first)) == 200
        assert await _post_json(client, _signed(first)) == 200  # Vonage retried it
        assert await _post_form(client, _signed(_part("0E0000002", "tulossa?", "12", 2, 2))) \
            == 200
        request = await _only_request(agent)
        assert [m["body"] for m in request["messages"]] == ["Onko auto jo tulossa?"]


async def test_an_incomplete_set_is_delivered_after_the_wait_with_the_gap_marked(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeVonage() as vonage:
        client = await _hub(hub, settings, vonage, concat_wait_s=0.5)
        agent = await dispatcher(client)
        assert await _post_json(client, _signed(_part("0F0000001", "Nouto ", "3", 1, 3))) == 200
        assert await _post_json(client, _signed(_part("0F0000003", " kello 9.", "3", 3, 3))) \
            == 200
        assert await agent.open_requests() == []

        request = await _only_request(agent)
        message = request["messages"][0]
        assert message["body"] == f"Nouto {MISSING_PART} kello 9."
        assert message["details"]["incomplete"] == "true"
        assert message["details"]["parts"] == "2/3"
        await asyncio.sleep(1.0)  # swept once: later rounds find nothing left
        assert len((await agent.request(request["id"]))["messages"]) == 1


async def test_reply_goes_out_through_vonage_and_follows_its_receipts(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeVonage(signature_secret=SIGNATURE_SECRET, script=["1", 200]) as vonage:
        client = await _hub(hub, settings, vonage)
        agent = await dispatcher(client)
        assert await _post_json(client, _signed(_sms("1A0000001", "Taksi Kamppiin"))) == 200
        request_id = (await _only_request(agent))["id"]

        body = "Taksi tulee 5 min, hinta noin 20 € ja äänestys"  # GSM-7: ä and € included
        status, answer = await agent.reply(request_id, body, "k-1")
        assert status == 201, answer
        sent = await agent.wait_for_reply(request_id, "sent")
        assert len(vonage.received) == 2 and len(vonage.messages) == 1  # throttled, then OK
        delivery = sent["deliveries"][0]
        assert delivery["attempts"] == 2
        form = vonage.received[-1].data
        assert form["to"] == MSISDN
        assert form["from"] == COMPANY_NUMBER  # the number the passenger texted
        assert form["text"] == body
        assert "type" not in form
        assert form["callback"] == str(client.make_url(DLR_PATH))
        assert form["client-ref"] == delivery["id"]
        assert form["api_key"] == VONAGE_API_KEY

        message_id = next(iter(vonage.messages))
        assert await vonage.send_dlr(message_id, "delivered") == 200
        await agent.wait_for_reply(request_id, "delivered")
        assert await vonage.send_dlr(message_id, "accepted", encoding="form") == 200
        delivered = await agent.wait_for_reply(request_id, "delivered")  # late: ignored
        assert delivered["deliveries"][0]["reason"] is None

        status, _ = await agent.reply(request_id, "Kuljettaja: Jürgen Šimkus", "k-2")
        assert status == 201
        await agent.wait_for_reply(request_id, "sent", "Kuljettaja: Jürgen Šimkus")
        assert vonage.received[-1].data["type"] == "unicode"  # š is not in GSM-7
        failed_id = list(vonage.messages)[-1]
        assert await vonage.send_dlr(failed_id, "failed", "3", encoding="form") == 200
        failed = await agent.wait_for_reply(request_id, "failed")
        assert failed["deliveries"][0]["reason"] == "failed, err-code 3"


async def test_only_the_first_parts_receipt_moves_a_long_reply(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeVonage(signature_secret=SIGNATURE_SECRET) as vonage:
        client = await _hub(hub, settings, vonage)
        agent = await dispatcher(client)
        assert await _post_json(client, _signed(_sms("1B0000001", "Hinta?"))) == 200
        request_id = (await _only_request(agent))["id"]

        status, _ = await agent.reply(request_id, "Hinta-arvio Kamppi - lentoasema " * 8, "k")
        assert status == 201
        await agent.wait_for_reply(request_id, "sent")
        first, second = list(vonage.messages)  # one message-id per part
        assert await vonage.send_dlr(second, "delivered") == 200  # unknown id: still 200
        assert (await agent.wait_for_reply(request_id, "sent"))["deliveries"][0]["state"] == "sent"
        assert await vonage.send_dlr(first, "delivered") == 200
        await agent.wait_for_reply(request_id, "delivered")


async def test_refused_reply_fails_with_vonages_reason_and_is_not_retried(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeVonage(script=["3"]) as vonage:
        client = await _hub(hub, settings, vonage)
        agent = await dispatcher(client)
        assert await _post_json(client, _signed(_sms("1C0000001", "Hei"))) == 200
        request_id = (await _only_request(agent))["id"]

        assert (await agent.reply(request_id, "Hei vaan", "k"))[0] == 201
        failed = await agent.wait_for_reply(request_id, "failed")
        assert failed["deliveries"][0]["reason"] == "Vonage status 3: Invalid Parameters"
        assert len(vonage.received) == 1


async def test_a_part_resent_after_its_message_was_assembled_adds_nothing(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    """Vonage resends any webhook it thinks went unanswered: a part of a message already
    put together must not wait as a new set and come out as a phantom incomplete message
    (issue 13, item 11)."""
    async with FakeVonage() as vonage:
        client = await _hub(hub, settings, vonage, concat_wait_s=0.5)
        agent = await dispatcher(client)
        second = _part("0G0000002", "tulossa?", "44", 2, 2)
        assert await _post_json(client, _signed(_part("0G0000001", "Onko auto jo ", "44",
                                                      1, 2))) == 200
        assert await _post_json(client, _signed(second)) == 200
        request = await _only_request(agent)
        assert await _post_json(client, _signed(second)) == 200  # resent, late
        await asyncio.sleep(1.5)  # past the wait: a held part would be swept out now
        messages = (await agent.request(request["id"]))["messages"]
        assert [m["body"] for m in messages] == ["Onko auto jo tulossa?"]
        assert len(await agent.open_requests()) == 1
