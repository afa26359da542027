"""The command line: `taxiconnect serve | demo | migrate | user add`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

from hub.errors import TaxiConnectError
from hub.model import Role
from hub.settings import Settings, load_settings

DEFAULT_CONFIG = Path("taxiconnect.toml")

log = logging.getLogger("hub.access")


def _settings(config: Path | None) -> Settings:
    if config is None:
        env = os.environ.get("TAXICONNECT_CONFIG")
        config = Path(env) if env else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    return load_settings(config)


def _logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic narrates every plugin it loads at INFO; its warnings still show.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def serve(settings: Settings, *, demo: bool = False) -> None:
    from hub.app import create_app

    app = create_app(settings)
    if demo:
        from hub.demo import seed_demo

        app.on_startup.append(seed_demo)

    def announce(_: object) -> None:
        host = settings.http.host
        shown = "localhost" if host in {"127.0.0.1", "0.0.0.0", "::"} else host
        print(f"TaxiConnect console: http://{shown}:{settings.http.port}/console", flush=True)
        print(f"Passenger form:      http://{shown}:{settings.http.port}/form", flush=True)

    web.run_app(app, host=settings.http.host, port=settings.http.port, print=announce,
                shutdown_timeout=5, access_log=log if settings.http.access_log else None)


async def _migrate(settings: Settings) -> None:
    from hub.database import Database

    db = Database(settings.database_url)
    try:
        await db.migrate()
    finally:
        await db.close()


async def _add_user(settings: Settings, args: argparse.Namespace, password: str) -> str:
    from hub.agents import add_agent
    from hub.database import Database
    from hub.phone import to_e164

    db = Database(settings.database_url)
    try:
        await db.migrate()
        phone = to_e164(args.phone, settings.phone.default_region) if args.phone else None
        agent = await add_agent(db, login=args.login, name=args.name, role=Role(args.role),
                                password=password, email=args.email, phone=phone,
                                phone_login=args.phone_login)
    finally:
        await db.close()
    return f"added {agent.role.value} user {agent.login} ({agent.id})"


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise SystemExit("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxiconnect", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the hub")
    commands.add_parser("demo", help="run the hub with demo data and a demo dispatcher")
    commands.add_parser("migrate", help="bring the database schema up to date")
    user = commands.add_parser("user", help="manage agent accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="add an agent; the password is read from stdin")
    add.add_argument("login")
    add.add_argument("--name", required=True)
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.TEAM.value)
    add.add_argument("--email")
    add.add_argument("--phone")
    add.add_argument("--phone-login")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args.config)
        _logging(settings)
        if args.command == "serve":
            serve(settings)
        elif args.command == "demo":
            serve(settings, demo=True)
        elif args.command == "migrate":
            asyncio.run(_migrate(settings))
            print("database schema is up to date")
        elif args.command == "user":
            print(asyncio.run(_add_user(settings, args, _read_password())))
    except TaxiConnectError as exc:
        raise SystemExit(f"taxiconnect: {exc}") from exc


if __name__ == "__main__":
    main()
