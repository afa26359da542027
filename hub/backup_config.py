"""The configuration file in a backup: every secret's value masked, the rest (comments too)
as the operator wrote it."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from collections.abc import Iterator
from typing import Any

from hub.settings import Secret, Settings

MASK = "********"
EACH = "[]"  # in a key's path: every table of an array of tables (`[[webhooks.endpoints]]`)


def secret_keys(cls: type[Any] = Settings, where: tuple[str, ...] = ()
                ) -> set[tuple[str, ...]]:
    """Every key of the configuration that holds a secret, as its path of table names."""
    found: set[tuple[str, ...]] = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        args = typing.get_args(hint)
        if dataclasses.is_dataclass(hint):
            found |= secret_keys(typing.cast(type[Any], hint), (*where, f.name))
        elif typing.get_origin(hint) is tuple and args and dataclasses.is_dataclass(args[0]):
            found |= secret_keys(typing.cast(type[Any], args[0]), (*where, f.name, EACH))
        elif hint is Secret:
            found.add((*where, f.name))
    return found


def mask_config(text: str) -> str | None:
    """The TOML text with every secret's value replaced by a mask, comments kept; None when
    a secret is written in a form this line-by-line masking does not reach (an inline
    table, a multi-line string): then the file is better left out than leaked."""
    secrets = secret_keys()
    table: tuple[str, ...] = ()
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[["):
            table = (*_table_name(stripped.strip("[]")), EACH)
        elif stripped.startswith("["):
            table = _table_name(stripped.strip("[]"))
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
    values = {v for path in secrets for v in _values(original, path)
              if isinstance(v, str) and v}
    if any(value in masked for value in values) or any(
            v != MASK for path in secrets for v in _values(parsed, path) if v not in (None, "")):
        return None
    return masked


def _table_name(header: str) -> tuple[str, ...]:
    return tuple(part.strip().strip('"') for part in header.partition("#")[0].strip(" []")
                 .split("."))


def _values(node: object, path: tuple[str, ...]) -> Iterator[object]:
    """The values at `path` in a parsed TOML tree (several under an array of tables)."""
    if not path:
        yield node
        return
    head, rest = path[0], path[1:]
    if head == EACH:
        for item in node if isinstance(node, list) else []:
            yield from _values(item, rest)
    elif isinstance(node, dict) and head in node:
        yield from _values(node[head], rest)
