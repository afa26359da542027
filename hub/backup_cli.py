"""`taxiconnect backup DIR` and `taxiconnect restore DIR` (hub.backup, hub.restore)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hub.settings import Settings

COMMANDS = ("backup", "restore")


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser(
        "backup", help="copy the embedded stores (SQLite, embedded Redis), attachments and "
                       "the configuration (secrets masked) into a new folder, while the hub "
                       "runs; for PostgreSQL and an external Redis, print their procedure")
    backup.add_argument("folder", type=Path, metavar="DIR", help="a new or empty folder")
    backup.add_argument("--no-config", action="store_true",
                        help="leave the configuration file out of the backup")
    restore = commands.add_parser(
        "restore", help="check a backup against its manifest and restore it into the "
                        "(empty) data folder")
    restore.add_argument("folder", type=Path, metavar="DIR", help="the backup's folder")


def run(settings: Settings, args: argparse.Namespace, config: Path | None) -> str:
    """Run `backup` or `restore`; the lines to print."""
    if args.command == "backup":
        from hub.backup import backup

        report = backup(settings, args.folder, config=config,
                        include_config=not args.no_config)
        return "\n".join(report.lines())
    from hub.restore import restore

    return "\n".join(restore(settings, args.folder))
