"""`taxiconnect export` and `taxiconnect erase`: a data subject's rights from the command line,
audited like the admin API's (actor none, via "cli")."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from aiohttp import ClientSession

from hub.settings import Settings

COMMANDS = ("export", "erase")


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export", help="write everything about a passenger (by phone or email) to a ZIP file")
    erase = commands.add_parser(
        "erase", help="erase a passenger's personal data (by phone or email); their requests "
                      "stay, nameless, with their timings")
    for sub in (export, erase):
        who = sub.add_mutually_exclusive_group(required=True)
        who.add_argument("--phone", help="the passenger's number, in any common form")
        who.add_argument("--email", help="the passenger's email address")
    export.add_argument("--out", type=Path, required=True, help="the ZIP file to write")
    erase.add_argument("--yes", action="store_true", required=True,
                       help="confirm: the erasure cannot be undone")


async def run(settings: Settings, args: argparse.Namespace) -> str:
    """Run `export` or `erase`; the line to print."""
    from hub import subject_rights
    from hub.app import provider_audio
    from hub.database import Database
    from hub.keys import Keys
    from hub.redis_client import open_redis
    from hub.subject import identifier_from

    identifier = identifier_from({"phone": args.phone, "email": args.email},
                                 settings.phone.default_region)
    db = Database(settings.database_url)
    try:
        await db.migrate(data_dir=settings.data_dir)
        if args.command == "export":
            # No proxy from the environment, as in the hub: the audio is asked for only
            # where the recording's location says, from no third party.
            async with ClientSession(trust_env=False) as http:
                archive = await subject_rights.export(
                    db, settings.data_dir, identifier, provider_audio(http, settings),
                    actor=None, via="cli")
            _write_private(args.out, archive.data)
            return f"exported {identifier.masked} to {args.out} ({len(archive.data)} bytes)"
        redis = await open_redis(settings)
        try:
            erased = await subject_rights.erase(db, redis.client, Keys(settings.redis.prefix),
                                                settings.data_dir, identifier, actor=None,
                                                via="cli")
        finally:
            await redis.close()
    finally:
        await db.close()
    return f"erased {identifier.masked}: " + ", ".join(
        f"{name} {count}" for name, count in erased.counts().items())


def _write_private(path: Path, data: bytes) -> None:
    """The archive is personal data: readable by its writer only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
