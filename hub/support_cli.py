"""`taxiconnect support-bundle`: logs, configuration and facts for the vendor, masked
(hub.support_bundle)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from hub.errors import BadInput
from hub.settings import Settings

COMMANDS = ("support-bundle",)


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bundle = commands.add_parser(
        "support-bundle",
        help="write a .tar.gz for the vendor's support: the configuration (secrets masked), "
             "versions, store counts and health, and the given log files, every number and "
             "address masked; no passenger's or agent's data")
    bundle.add_argument("--output", type=Path, metavar="FILE",
                        help="the archive to write (a new file); default "
                             "taxiconnect-support-<UTC time>.tar.gz here")
    bundle.add_argument("--log", type=Path, action="append", default=[], metavar="FILE",
                        help="a saved hub log to include (e.g. from journalctl); repeatable")


def run(settings: Settings, args: argparse.Namespace, config: Path | None) -> str:
    """Write the bundle; the line to print."""
    from hub.support_bundle import collect, default_output, write

    output: Path = args.output or default_output()
    if output.exists():  # before gathering anything (write() refuses it too, atomically)
        raise BadInput(f"{output} exists already; name a new file with --output")
    bundle = asyncio.run(collect(settings, config, list(args.log)))
    size = write(bundle, output)
    return f"wrote support bundle {output} ({len(bundle.files)} files, {size} bytes)"
