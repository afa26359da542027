"""Asterisk's AMI over TLS (issue 14, item 7), where Asterisk offers it (manager.conf
`tlsenable`): the hub's AMI client logs in to a fake Asterisk that speaks TLS only, with a
certificate made on the fly, checking it against the configured CA."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path

import pytest

from hub.settings import AmiSettings, ChannelsSettings, PhoneSettings, Secret, Settings
from tests.conftest import HubFactory
from tests.fake_ami import FakeAmi
from tests.tls_certs import make_certificates, openssl_available

pytestmark = pytest.mark.skipif(not openssl_available(), reason="no openssl command")

USER, SECRET = "taxiconnect", "ami-secret"


async def test_the_ami_client_logs_in_over_tls(hub: HubFactory, settings: Settings,
                                               tmp_path: Path) -> None:
    certs = make_certificates(tmp_path / "certs")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(certs.cert, certs.key)
    async with FakeAmi(USER, SECRET, tls=server) as asterisk:
        await hub(dataclasses.replace(
            settings, channels=ChannelsSettings(enabled=("webform", "asterisk_ami")),
            phone=PhoneSettings(ami=AmiSettings(
                host="localhost", port=asterisk.port, user=USER, secret=Secret(SECRET),
                tls=True, ca_file=str(certs.ca)))))
        await asterisk.wait_for_logins(1)
