"""The configuration file in a backup: every secret's value masked, the rest (comments too)
as the operator wrote it."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from typing import Any

from hub.settings import Secret, Settings

MASK = "********"


def secret_keys(cls: type[Any] = Settings, where: tuple[str, ...] = ()
                ) -> set[tuple[str, ...]]:
    """Every key of the configuration that holds a secret, as its path of table names."""
    found: set[tuple[str, ...]] = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            found |= secret_keys(typing.cast(type[Any], hint), (*where, f.name))
        elif hint is Secret:
            found.add((*where, f.name))
    return found


def mask_config(text: str) -> str | None:
    """The TOML text with every secret's value replaced by a mask, comments kept; None when
    a secret is written in a form this line-by-line masking does not reach (an inline
    table, a multi-line string): then the file is better left out."""
    secrets = secret_keys()
    table: tuple[str, ...] = ()
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            table = tuple(p.strip().strip('"') for p in stripped.strip("[]").split("."))
        elif "=" in stripped and not stripped.startswith("#"):
            key = stripped.partition("=")[0].strip().strip('"')
            if (*table, key) in secrets:
                indent = line[:len(line) - len(line.lstrip())]
                line = f'{indent}{key} = "{MASK}"'
        lines.append(line)
    masked = "\n".join(lines) + "\n"
    try:
        original, parsed = tomllib.loads(text), tomllib.loads(masked)
    except tomllib.TOMLDecodeError:
        return None
    for path in secrets:
        before, after = _lookup(original, path), _lookup(parsed, path)
        if before not in (None, "") and after != MASK:
            return None
    return masked


def _lookup(tree: dict[str, Any], path: tuple[str, ...]) -> object:
    node: object = tree
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
