"""The configuration in a support bundle: the settings as the hub loaded them (file and
`TAXICONNECT_*` variables together), every secret masked, credentials and query strings cut
out of addresses; and the configuration file itself as `taxiconnect backup` masks it.

Numbers and addresses among the values (the company's sender number, its mail address) are
masked afterwards with the rest of the bundle's text (hub.log_privacy.mask_text)."""

from __future__ import annotations

import dataclasses
import json
import re
from enum import Enum
from pathlib import Path
from typing import Any

from hub.backup_config import MASK, mask_config
from hub.settings import Secret, Settings

URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>.*)$")


def safe_url(url: str) -> str:
    """`url` without its user and password (`***@` instead) or its query string (`?…`): a
    DSN's credentials, a gateway's `?token=`. Anything that is not a URL is returned whole."""
    match = URL.match(url)
    if match is None:
        return url
    rest = match["rest"]
    query = "?…" if "?" in rest else ""
    rest = rest.partition("?")[0].partition("#")[0]
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{match['scheme']}{authority}{slash}{path}{query}"


def settings_json(settings: Settings) -> str:
    """The settings in effect, as JSON: a secret reads `"********"` when set, `""` when not."""
    return json.dumps(_plain(settings), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def config_file_text(config: Path | None) -> tuple[str | None, str]:
    """The configuration file with its secrets masked, or None; and a line saying why."""
    if config is None:
        return None, "no configuration file in use: defaults and TAXICONNECT_* variables only"
    try:
        text = config.read_text(encoding="utf-8")
    except OSError as exc:
        return None, f"the configuration file could not be read: {type(exc).__name__}"
    masked = mask_config(text)
    if masked is None:
        return None, ("the configuration file is left out: a secret in it is written in a form "
                      "the masking does not reach (an inline table, a multi-line string)")
    return masked, "the configuration file, every secret value masked"


def _plain(value: object) -> Any:
    if isinstance(value, Secret):
        return MASK if value else ""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return safe_url(value)
    return value
