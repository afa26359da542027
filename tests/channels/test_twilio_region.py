"""Twilio's region and edge (issue 14, item 7): an EU deployment names region "ie1" and
edge "dublin" in its configuration, and every Twilio API call (SMS sends, voice recording
fetches) then goes to the host Twilio documents for them, api.dublin.ie1.twilio.com; with
neither set the default US1 host stays; one without the other stops the start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hub.errors import OperatorMustAct
from hub.settings import load_settings

# Nothing here touches the stores: the PostgreSQL pass would only repeat it.
pytestmark = pytest.mark.store_independent

EU = """
[sms.twilio]
account_sid = "AC00000000000000000000000000000000"
region = "ie1"
edge = "dublin"
"""


def _load(tmp_path: Path, text: str) -> str:
    config = tmp_path / "taxiconnect.toml"
    config.write_text(text)
    return load_settings(config, environ={}).sms.twilio.api_url


def test_the_eu_region_and_edge_make_the_api_host(tmp_path: Path) -> None:
    assert _load(tmp_path, EU) == "https://api.dublin.ie1.twilio.com"
    assert load_settings(None, environ={"TAXICONNECT_SMS_TWILIO_REGION": "de1",
                                        "TAXICONNECT_SMS_TWILIO_EDGE": "frankfurt"}
                         ).sms.twilio.api_url == "https://api.frankfurt.de1.twilio.com"


def test_without_a_region_the_default_host_stays(tmp_path: Path) -> None:
    assert _load(tmp_path, "[sms.twilio]\naccount_sid = \"AC1\"\n") == "https://api.twilio.com"


def test_an_explicit_api_url_wins(tmp_path: Path) -> None:
    assert _load(tmp_path, EU + 'api_url = "http://127.0.0.1:9/twilio"\n') \
        == "http://127.0.0.1:9/twilio"


@pytest.mark.parametrize("half", ['region = "ie1"', 'edge = "dublin"',
                                  'region = "ie1"\nedge = "dub lin"'])
def test_a_region_without_its_edge_is_refused(tmp_path: Path, half: str) -> None:
    with pytest.raises(OperatorMustAct, match="set region and edge together"):
        _load(tmp_path, f"[sms.twilio]\n{half}\n")


def test_serve_with_half_a_region_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "taxiconnect.toml"
    config.write_text('[sms.twilio]\nregion = "ie1"\n')
    done = subprocess.run([sys.executable, "-m", "hub.cli", "--config", str(config), "serve"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == ('taxiconnect: sms.twilio: set region and edge together, '
                                   'e.g. region = "ie1" and edge = "dublin"')
