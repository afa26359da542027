"""Group messaging through the public interfaces: admins keep a staff group (its 50 members
pasted as CSV), a dispatcher messages it by SMS through a local server speaking Twilio's API
(which fails some sends with 500s and refuses one number with Twilio's 21211) and by email
through a local SMTP relay; every recipient's delivery is recorded, the failures are retried
or shown with their reasons, and members' answers (signed Twilio webhooks, SMTP mail) come
back into the group message's thread, while a stranger's text does not."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import smtplib
import uuid
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from channels.email.channel import EmailChannel
from channels.sms.twilio_signature import twilio_signature
from dispatch.appkeys import ADAPTERS
from hub import schema
from hub.appkeys import DATABASE
from hub.group_threads import GROUP_REPLY_WINDOW
from hub.model import Role
from hub.settings import (
    ChannelsSettings,
    EmailSettings,
    HttpSettings,
    OutboundSettings,
    Secret,
    Settings,
    SmsSettings,
    SmtpListenerSettings,
    SmtpRelaySettings,
    TwilioSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import FakeTwilio
from tests.helpers import Dispatcher, eventually
from tests.smtp_sink import SmtpSink

TOKEN = "twilio-test-auth-token"
ACCOUNT = "AC" + "1" * 32
COMPANY_NUMBER = "+358451234567"
COMPANY_MAIL = "taksi@taxi.example"
STRANGER = "+358409998877"
# Enough retries that the script's five 500s can never exhaust one delivery's attempts.
OUTBOUND = OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                            send_timeout_s=5, max_attempts=8)


def _number(n: int) -> tuple[str, str]:
    """A member's number as an office types it, and in E.164."""
    return f"040 100 {n:04d}", f"+35840100{n:04d}"


async def _sms_hub(hub: HubFactory, settings: Settings, twilio: FakeTwilio
                   ) -> TestClient[Any, Any]:
    port = free_port()
    return await hub(dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "twilio_sms")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number=COMPANY_NUMBER,
            api_url=twilio.url)),
        outbound=OUTBOUND,
    ), port=port)


async def _call(agent: Dispatcher, method: str, path: str,
                body: dict[str, Any] | None = None) -> tuple[int, Any]:
    async with agent.http.request(method, agent.base + path, json=body) as response:
        return response.status, await response.json()


async def _ok(agent: Dispatcher, method: str, path: str,
              body: dict[str, Any] | None = None, status: int = 200) -> Any:
    got, answer = await _call(agent, method, path, body)
    assert got == status, (method, path, got, answer)
    return answer


async def _text_in(client: TestClient[Any, Any], sender: str, body: str) -> None:
    """`sender` texts the company; Twilio forwards it, signed as Twilio signs."""
    params = [("MessageSid", "SM" + uuid.uuid4().hex), ("AccountSid", ACCOUNT),
              ("From", sender), ("To", COMPANY_NUMBER), ("Body", body), ("NumMedia", "0")]
    url = str(client.make_url("/webhooks/sms/twilio"))
    response = await client.post("/webhooks/sms/twilio", data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TOKEN, url, params),
    })
    assert response.status == 200, await response.text()


async def _group(admin: Dispatcher, name: str, csv: str) -> dict[str, Any]:
    created = (await _ok(admin, "POST", "/api/v1/admin/groups", {"name": name}, 201))["group"]
    imported = await _ok(admin, "POST",
                         f"/api/v1/admin/groups/{created['id']}/members/import", {"csv": csv})
    group: dict[str, Any] = imported["group"]
    return group


async def _sent(agent: Dispatcher, group_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await _ok(agent, "GET", f"/api/v1/groups/{group_id}/messages")
                             )["messages"][0]
    return found


async def _settled(agent: Dispatcher, group_id: str) -> dict[str, Any]:
    """The group's newest message once no delivery is queued any more."""
    async def probe() -> dict[str, Any] | None:
        found = await _sent(agent, group_id)
        return found if found["counts"]["queued"] == 0 else None
    return await eventually(probe, 20.0, "every delivery settled")


async def test_fifty_members_by_sms_retries_shows_failures_and_threads_answers(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        client = await _sms_hub(hub, settings, twilio)
        admin = await dispatcher(client, Role.ADMIN, name="Ylläpitäjä")
        sender = await dispatcher(client, Role.TEAM, name="Välittäjä Virtanen")
        csv = "nimi;puhelin;sähköposti\n" + "\n".join(
            f"Kuljettaja {n};{_number(n)[0]};" for n in range(1, 51))
        group = await _group(admin, "Yövuoro", csv)
        assert (group["members"], group["phones"], group["emails"]) == (50, 50, 0)
        assert {m["phone"] for m in group["member_list"]} == {_number(n)[1]
                                                              for n in range(1, 51)}

        # Member 50 texted STOP earlier: they get no SMS, and the sender sees why.
        await _text_in(client, _number(50)[1], "STOP")
        twilio.script = [500, 500, 400, 500, 500, 500]
        console = await sender.console()
        answer = await _ok(sender, "POST", f"/api/v1/groups/{group['id']}/messages", {
            "body": "Lumimyrsky: kaikki vapaat autot lentoasemalle. Vastaa OK.",
            "channels": ["sms"], "client_key": "storm-1"}, 201)
        assert answer["group_message"]["recipients"] == 50
        thread = answer["request"]
        assert thread["status"] == "claimed"
        assert thread["assigned_agent"]["id"] == str(sender.agent.id)
        assert thread["contact"]["name"] == "Yövuoro"
        again = await _ok(sender, "POST", f"/api/v1/groups/{group['id']}/messages", {
            "body": "Lumimyrsky: kaikki vapaat autot lentoasemalle. Vastaa OK.",
            "channels": ["sms"], "client_key": "storm-1"}, 200)
        assert again["group_message"]["id"] == answer["group_message"]["id"]

        sent = await _settled(sender, group["id"])
        assert sent["recipients"] == 50
        assert sent["counts"] == {"queued": 0, "sent": 48, "delivered": 0, "failed": 2}
        failures = {f["name"]: f["reason"] for f in sent["failures"]}
        assert failures.pop("Kuljettaja 50").startswith("opted out of SMS (STOP")
        ((refused, reason),) = failures.items()
        assert "21211" in reason and refused.startswith("Kuljettaja ")
        assert len(twilio.received) == 49 + 5  # 49 numbers once, five again after a 500
        assert len(twilio.messages) == 48
        assert {r.data["To"] for r in twilio.received} == {_number(n)[1] for n in range(1, 50)}
        assert {r.data["Body"] for r in twilio.received} == {
            "Lumimyrsky: kaikki vapaat autot lentoasemalle. Vastaa OK."}

        detail = await sender.request(thread["id"])
        (message,) = [m for m in detail["messages"] if m["direction"] == "outbound"]
        deliveries = message["deliveries"]
        assert len(deliveries) == 50
        assert sorted(d["attempts"] for d in deliveries).count(2) == 5  # the retried ones
        assert message["details"]["recipients"][_number(7)[1]] == "Kuljettaja 7"

        # A member answers: the text joins the group thread, and the sender's console hears.
        await _text_in(client, _number(7)[1], "OK, 10 min päästä kentällä")
        heard = await console.until(lambda e: e["type"] == "request.message"
                                    and e["request"]["id"] == thread["id"])
        assert heard[-1]["request"]["status"] == "claimed"
        detail = await sender.request(thread["id"])
        inbound = [m for m in detail["messages"] if m["direction"] == "inbound"]
        assert [(m["body"], m["details"]["from"]) for m in inbound] == [
            ("OK, 10 min päästä kentällä", _number(7)[1])]
        assert (await _sent(sender, group["id"]))["answers"] == 1

        # A stranger's text is a request of its own.
        await _text_in(client, STRANGER, "Taksi Kamppiin")
        stranger = await eventually(lambda: _request_of(sender, STRANGER), what="stranger")
        assert stranger["id"] != thread["id"]
        assert len((await sender.request(thread["id"]))["messages"]) == 2

        # Resolved, the thread is reopened by the next answer, into the shared queue.
        await _ok(sender, "POST", f"/api/v1/requests/{thread['id']}/resolve")
        await _text_in(client, _number(12)[1], "Myöhästyn, olen Tampereella")
        reopened = await sender.wait_for_status(thread["id"], "queued")
        assert reopened["assigned_agent"] is None
        assert reopened["messages"][-1]["body"] == "Myöhästyn, olen Tampereella"


async def _request_of(agent: Dispatcher, phone: str) -> dict[str, Any] | None:
    return next((r for r in await agent.open_requests() if phone in r["contact"]["phones"]),
                None)


async def _email_hub(hub: HubFactory, settings: Settings, sink: SmtpSink,
                     twilio: FakeTwilio) -> TestClient[Any, Any]:
    port = free_port()
    return await hub(dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "twilio_sms", "email")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number=COMPANY_NUMBER,
            api_url=twilio.url)),
        email=EmailSettings(
            address=COMPANY_MAIL, reply_token_secret=Secret("test-reply-secret"),
            smtp=SmtpListenerSettings(port=0, domains=("taxi.example",)),
            relay=SmtpRelaySettings(host="127.0.0.1", port=sink.port, security="none")),
        outbound=OUTBOUND,
    ), port=port)


async def _mail_in(client: TestClient[Any, Any], sender: str, body: str,
                   **headers: str) -> None:
    channel = client.app[ADAPTERS]["email"]
    assert isinstance(channel, EmailChannel) and channel.smtp_port
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = COMPANY_MAIL
    mail["Subject"] = headers.pop("Subject", "Re: vuorolista")
    mail["Message-ID"] = make_msgid(domain="example.fi")
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)

    def blocking() -> None:
        with smtplib.SMTP("127.0.0.1", channel.smtp_port, timeout=10) as smtp:
            smtp.send_message(mail, to_addrs=[COMPANY_MAIL])
    await asyncio.to_thread(blocking)


async def test_email_and_sms_members_each_get_it_and_mail_answers_thread_back(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with SmtpSink() as sink, FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        client = await _email_hub(hub, settings, sink, twilio)
        admin = await dispatcher(client, Role.ADMIN)
        sender = await dispatcher(client, Role.TEAM, name="Välittäjä Virtanen")
        group = await _group(admin, "Kumppanit", "\n".join([
            "Aino Kumppani;;Aino@Partner.example",
            "Eero Kumppani;040 200 0001;eero@partner.example",
            "Pekka Puhelin;040 200 0002;"]))
        answer = await _ok(sender, "POST", f"/api/v1/groups/{group['id']}/messages", {
            "body": "Huomenna lakko klo 6–18.", "subject": "Lakko huomenna",
            "channels": ["sms", "email"], "client_key": "strike-1"}, 201)
        assert answer["group_message"]["recipients"] == 4  # two numbers, two addresses
        sent = await _settled(sender, group["id"])
        assert sent["by_channel"] == {
            "sms": {"queued": 0, "sent": 2, "delivered": 0, "failed": 0},
            "email": {"queued": 0, "sent": 2, "delivered": 0, "failed": 0}}
        assert {r.data["To"] for r in twilio.received} == {"+358402000001", "+358402000002"}
        mails = {d.rcpt_tos: d.message for d in sink.delivered}
        assert set(mails) == {("aino@partner.example",), ("eero@partner.example",)}
        ids = {mail["Message-ID"] for mail in mails.values()}
        assert len(ids) == 2  # each copy a mail of its own
        reference = answer["request"]["reference"]
        for mail in mails.values():
            assert mail["Subject"] == f"Lakko huomenna [#{reference}]"
            assert mail["From"].startswith("Välittäjä Virtanen")
            assert mail.get_content().strip() == "Huomenna lakko klo 6–18."

        # A member writes a new mail from their address; someone else answers Eero's copy.
        await _mail_in(client, "aino@partner.example", "Selvä, autot tallissa.")
        eero_copy = mails[("eero@partner.example",)]["Message-ID"]
        await _mail_in(client, "eeron.puoliso@example.fi", "Eero on lomalla.",
                       In_Reply_To=eero_copy, References=eero_copy)
        thread = answer["request"]["id"]

        async def answers() -> list[str] | None:
            found = [m["body"] for m in (await sender.request(thread))["messages"]
                     if m["direction"] == "inbound"]
            return found if len(found) == 2 else None
        assert sorted(await eventually(answers, what="two answers")) == [
            "Eero on lomalla.", "Selvä, autot tallissa."]

        # Aino's copy bounces: her delivery alone fails, and the bounce joins the thread.
        await _mail_raw(client, _bounce(mails[("aino@partner.example",)]["Message-ID"],
                                        "aino@partner.example"))
        sent = await eventually(lambda: _failed(sender, group["id"]), what="the bounce")
        assert [(f["name"], f["channel"]) for f in sent["failures"]] == [
            ("Aino Kumppani", "email")]
        assert "5.1.1" in sent["failures"][0]["reason"]
        assert sent["by_channel"]["email"]["sent"] == 1
        assert sent["answers"] == 3
        assert [r["id"] for r in await sender.open_requests()] == [thread]


async def _failed(agent: Dispatcher, group_id: str) -> dict[str, Any] | None:
    found = await _sent(agent, group_id)
    return found if found["failures"] else None


async def _mail_raw(client: TestClient[Any, Any], raw: bytes) -> None:
    channel = client.app[ADAPTERS]["email"]
    assert isinstance(channel, EmailChannel) and channel.smtp_port

    def blocking() -> None:
        with smtplib.SMTP("127.0.0.1", channel.smtp_port, timeout=10) as smtp:
            smtp.sendmail("", [COMPANY_MAIL], raw)  # a bounce: null envelope sender
    await asyncio.to_thread(blocking)


def _bounce(original_id: str, recipient: str) -> bytes:
    """A Postfix-style delivery status notification quoting the copy's headers."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.partner.example>
To: {COMPANY_MAIL}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Message-ID: {make_msgid(domain="mx.partner.example")}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B0UND"

--B0UND
Content-Type: text/plain; charset=us-ascii

The mail could not be delivered to {recipient}.

--B0UND
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.partner.example

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--B0UND
Content-Type: text/rfc822-headers

From: {COMPANY_MAIL}
To: {recipient}
Message-ID: {original_id}

--B0UND--
""".replace("\n", "\r\n").encode()


async def test_an_answer_joins_the_newest_group_message_within_the_window_only(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        client = await _sms_hub(hub, settings, twilio)
        admin = await dispatcher(client, Role.ADMIN)
        sender = await dispatcher(client, Role.TEAM)
        member = _number(1)
        first = await _group(admin, "Aamuvuoro", f"Kaisa;{member[0]};\nOlli;{_number(2)[0]};")
        second = await _group(admin, "Varallaolo", f"Kaisa;{member[0]};")
        threads = []
        for group, key in ((first, "a"), (second, "b")):
            answer = await _ok(sender, "POST", f"/api/v1/groups/{group['id']}/messages", {
                "body": "Tuletko töihin?", "channels": ["sms"], "client_key": key}, 201)
            threads.append(answer["request"]["id"])
        await _text_in(client, member[1], "Tulen")  # in both groups: the newest message

        async def answered(request_id: str) -> list[str] | None:
            found = [m["body"] for m in (await sender.request(request_id))["messages"]
                     if m["direction"] == "inbound"]
            return found or None
        assert await eventually(lambda: answered(threads[1]), what="the answer") == ["Tulen"]
        assert await answered(threads[0]) is None

        # Eight days on, the same member's text is a matter of its own.
        sent_to = schema.group_messages
        async with client.app[DATABASE].write() as conn:
            for row in (await conn.execute(select(sent_to.c.id, sent_to.c.created_at))).all():
                await conn.execute(update(sent_to).where(sent_to.c.id == row.id).values(
                    created_at=row.created_at - GROUP_REPLY_WINDOW - timedelta(days=1)))
        await _text_in(client, member[1], "Taksi asemalle")
        own = await eventually(lambda: _request_of(sender, member[1]), what="own request")
        assert own["id"] not in threads
        assert own["preview"] == "Taksi asemalle"


async def test_groups_are_for_admins_to_keep_and_dispatchers_to_message(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        client = await _sms_hub(hub, settings, twilio)
        admin = await dispatcher(client, Role.ADMIN)
        team = await dispatcher(client, Role.TEAM)
        partner = await dispatcher(client, Role.EXTERNAL)
        group = await _group(admin, "Päivystäjät", "Liisa Lahti;0401234567;liisa@example.fi")
        member_id = group["member_list"][0]["id"]
        base = f"/api/v1/admin/groups/{group['id']}"
        admin_routes = [
            ("GET", "/api/v1/admin/groups", None), ("POST", "/api/v1/admin/groups", {"name": "X"}),
            ("GET", base, None), ("PATCH", base, {"name": "Y"}), ("DELETE", base, None),
            ("POST", base + "/members", {"name": "Z", "phone": "0401111111"}),
            ("POST", base + "/members/import", {"csv": "Z;0401111111;"}),
            ("PATCH", f"{base}/members/{member_id}", {"name": "Z"}),
            ("DELETE", f"{base}/members/{member_id}", None)]
        for who in (team, partner):
            for method, path, body in admin_routes:
                assert (await _call(who, method, path, body))[0] == 403, (who.agent.role, path)
        send = {"body": "Testi", "channels": ["sms"], "client_key": "k"}
        for method, path, body in [("GET", "/api/v1/groups", None),
                                   ("GET", f"/api/v1/groups/{group['id']}/messages", None),
                                   ("POST", f"/api/v1/groups/{group['id']}/messages", send)]:
            assert (await _call(partner, method, path, body))[0] == 403, path
        listed = await _ok(team, "GET", "/api/v1/groups")
        assert listed["groups"] == [{k: v for k, v in group.items() if k != "member_list"}]
        assert "liisa" not in json.dumps(listed).lower()  # counts, not members

        # Bad input is refused with reasons.
        status, bad = await _call(admin, "POST", base + "/members",
                                  {"name": "Ville", "phone": "12", "email": "ei-osoite"})
        assert status == 422 and set(bad["fields"]) == {"phone", "email"}
        status, bad = await _call(admin, "POST", base + "/members", {"name": "Ville"})
        assert status == 422 and bad["fields"]["phone"] == "phone_or_email"
        status, bad = await _call(admin, "POST", base + "/members",
                                  {"name": "Toinen Liisa", "phone": "+358 40 123 4567"})
        assert status == 422 and bad["fields"] == {"phone": "taken"}
        status, bad = await _call(admin, "POST", base + "/members/import", {
            "csv": "Hyvä Rivi;0407654321;\nHuono Rivi;abc;\n;0401112222;\nLiian;monta;a@b.fi;x"})
        assert status == 422 and set(bad["fields"]) == {"line 2", "line 3", "line 4"}
        assert "phone" in bad["fields"]["line 2"] and "name" in bad["fields"]["line 3"]
        status, bad = await _call(admin, "POST", "/api/v1/admin/groups", {"name": "Päivystäjät"})
        assert status == 409
        for body in [{"body": "", "channels": ["sms"], "client_key": "a"},
                     {"body": "x", "channels": ["fax"], "client_key": "b"},
                     {"body": "x", "channels": ["email"], "client_key": "c"},
                     {"body": "x" * 1601, "channels": ["sms"], "client_key": "d"},
                     {"body": "x", "channels": ["sms"]}]:
            status, bad = await _call(team, "POST", f"/api/v1/groups/{group['id']}/messages",
                                      body)
            assert status == 422, (body, bad)
        assert (await _call(team, "POST", f"/api/v1/groups/{uuid.uuid4()}/messages", send)
                )[0] == 404

        # Changes: a member's number edited, then a paste replaces the whole group.
        changed = await _ok(admin, "PATCH", f"{base}/members/{member_id}",
                            {"phone": "040 765 4321"})
        assert changed["member"]["phone"] == "+358407654321"
        replaced = await _ok(admin, "POST", base + "/members/import", {
            "csv": "Matti;0501000001;\nMaija;;maija@example.fi\nMatti kahdesti;0501000001;",
            "replace": True})
        assert (replaced["added"], replaced["skipped"], replaced["removed"]) == (2, 1, 1)
        assert [m["name"] for m in replaced["group"]["member_list"]] == ["Maija", "Matti"]
        renamed = await _ok(admin, "PATCH", base, {"name": "Päivystys"})
        assert renamed["group"]["name"] == "Päivystys"

        # The trail says who changed what, never the members' names, numbers or addresses.
        trail = await _ok(admin, "GET", "/api/v1/admin/audit?action=group.")
        actions = [e["action"] for e in trail["entries"]]
        assert {"group.create", "group.member.import", "group.member.update",
                "group.rename"} <= set(actions)
        text = json.dumps(trail).lower()
        for personal in ("liisa", "matti", "maija", "0407654321", "4567", "example.fi"):
            assert personal not in text, personal

        await _ok(admin, "DELETE", base)
        assert (await _call(admin, "GET", base))[0] == 404
