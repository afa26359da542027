"""Replies out through a relay that speaks TLS, as the company's relay does (issue 14, item 7):
STARTTLS on the submission port and TLS from the first byte, each with a certificate made on
the fly by a private CA. The hub checks the relay's certificate against the system's CAs,
which an operator with a private CA points at a bundle holding it (`SSL_CERT_FILE`,
docs/operations.md "PostgreSQL, Redis, mail and Asterisk over TLS"): a relay whose
certificate no trusted CA signed gets no mail, in clear or otherwise."""

from __future__ import annotations

import dataclasses
import os
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.settings import (
    ChannelsSettings,
    EmailSettings,
    OutboundSettings,
    Secret,
    Settings,
    SmtpListenerSettings,
    SmtpRelaySettings,
)
from tests.channels.test_email_smtp import COMPANY, PASSENGER, _mail, _port, _requests, _send
from tests.conftest import DispatcherFactory, HubFactory
from tests.smtp_sink import SmtpSink
from tests.tls_certs import Certificates, make_certificates, openssl_available


@pytest.fixture
def certificates(tmp_path: Path) -> tuple[Certificates, Certificates]:
    """The relay's certificates, and another CA's: one the hub must not trust for it."""
    if not openssl_available():
        if os.environ.get("CI"):
            pytest.fail("openssl not found; CI must have it")
        pytest.skip("openssl not found")
    return make_certificates(tmp_path / "relay"), make_certificates(tmp_path / "stranger")


def _server_context(certs: Certificates) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert, certs.key)
    return context


async def _hub(hub: HubFactory, settings: Settings, sink: SmtpSink,
               security: str) -> TestClient[Any, Any]:
    return await hub(dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "email")),
        email=EmailSettings(
            address=COMPANY, reply_token_secret=Secret("test-reply-secret"),
            smtp=SmtpListenerSettings(port=0, domains=("taxi.example",)),
            relay=SmtpRelaySettings(host="localhost", port=sink.port, security=security)),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.1, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=2),
    ))


async def test_replies_go_through_a_starttls_relay_only_when_its_certificate_is_trusted(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    certificates: tuple[Certificates, Certificates], monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay, stranger = certificates
    async with SmtpSink(tls=_server_context(relay)) as sink:
        client = await _hub(hub, settings, sink, "starttls")
        agent = await dispatcher(client)
        await _send(_port(client), _mail("Taksi", "Taksi asemalle klo 7."))
        (request,) = await _requests(agent, 1)

        # The relay's certificate is signed by a CA the hub does not trust: refused.
        monkeypatch.setenv("SSL_CERT_FILE", str(stranger.ca))
        status, _ = await agent.reply(request["id"], "Ensimmäinen vastaus.", "tls-1")
        assert status == 201
        failed = await agent.wait_for_reply(request["id"], "failed", "Ensimmäinen vastaus.")
        assert sink.delivered == [] and sink.attempts == 0  # nothing went out in clear
        assert "relay unreachable" in failed["deliveries"][0]["reason"]

        monkeypatch.setenv("SSL_CERT_FILE", str(relay.ca))
        status, _ = await agent.reply(request["id"], "Toinen vastaus.", "tls-2")
        assert status == 201
        await agent.wait_for_reply(request["id"], "sent", "Toinen vastaus.")
        (out,) = sink.delivered
        assert out.encrypted and out.rcpt_tos == (PASSENGER,)
        assert out.message.get_content().strip() == "Toinen vastaus."


async def test_replies_go_through_a_relay_speaking_tls_from_the_first_byte(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    certificates: tuple[Certificates, Certificates], monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay, _ = certificates
    monkeypatch.setenv("SSL_CERT_FILE", str(relay.ca))
    async with SmtpSink(tls=_server_context(relay), implicit_tls=True) as sink:
        client = await _hub(hub, settings, sink, "ssl")
        agent = await dispatcher(client)
        await _send(_port(client), _mail("Kuitti", "Kuitti eiliseltä matkalta, kiitos."))
        (request,) = await _requests(agent, 1)
        status, _ = await agent.reply(request["id"], "Kuitti on liitteenä.", "tls-3")
        assert status == 201
        await agent.wait_for_reply(request["id"], "sent")
        (out,) = sink.delivered
        assert out.encrypted and out.message.get_content().strip() == "Kuitti on liitteenä."
