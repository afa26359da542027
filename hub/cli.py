"""The command line: `taxiconnect serve | demo | migrate | user add | purge | export |
erase | backup | restore | audit verify`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

from hub import backup_cli, log_format, log_privacy, subject_cli, support_cli
from hub.data_dir import make_private
from hub.errors import TaxiConnectError
from hub.event_loop import new_event_loop
from hub.log_privacy import PrivateAccessLogger
from hub.model import Role
from hub.settings import Settings, load_settings
from hub.tls import server_context
from hub.workers import (
    MAX_RESTARTS,
    RESTART_WINDOW_S,
    WORKERS_HELP,
    RestartPolicy,
    announce,
    listen_sockets,
    migrate,
    serve_worker,
    serve_workers,
)

DEFAULT_CONFIG = Path("taxiconnect.toml")

log = logging.getLogger("hub.access")

def _config_path(config: Path | None) -> Path | None:
    if config is None:
        env = os.environ.get("TAXICONNECT_CONFIG")
        config = Path(env) if env else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    return config


def _logging(settings: Settings, worker: int | None = None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(log_format.formatter(settings.log_format, worker))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])
    if settings.log_format == "json":
        # A library's warning would otherwise be a bare line among the JSON objects.
        logging.captureWarnings(True)
    # Alembic narrates every plugin it loads at INFO; its warnings still show.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    log_privacy.install()


def serve(settings: Settings, *, demo: bool = False) -> None:
    from hub.app import create_app
    from hub.heap import settle_heap

    # Bound before anything starts: a port in use or an unreadable certificate is a clear
    # error (OperatorMustAct), not a traceback after the demo has printed its login.
    tls = server_context(settings.http)
    sockets = listen_sockets(settings.http.host, settings.http.port, 1)[0]
    app = create_app(settings)
    if demo:
        from hub.demo import seed_demo

        app.on_startup.append(seed_demo)
    app.on_startup.append(settle_heap)

    def print_addresses(_: object) -> None:
        announce(settings.http.host, settings.http.port, settings.http.scheme,
                 as_log=settings.log_format == "json")

    web.run_app(app, sock=sockets, print=print_addresses, ssl_context=tls,
                shutdown_timeout=5, keepalive_timeout=settings.http.idle_timeout_s,
                access_log=log if settings.http.access_log else None,
                access_log_class=PrivateAccessLogger,
                loop=new_event_loop(settings.http.event_loop))


async def _add_user(settings: Settings, args: argparse.Namespace, password: str) -> str:
    from hub.agents import add_agent
    from hub.database import Database
    from hub.phone import to_e164

    db = Database(settings.database_url)
    try:
        await db.migrate(data_dir=settings.data_dir)
        phone = to_e164(args.phone, settings.phone.default_region) if args.phone else None
        agent = await add_agent(db, login=args.login, name=args.name, role=Role(args.role),
                                password=password, email=args.email, phone=phone,
                                phone_login=args.phone_login)
    finally:
        await db.close()
    return f"added {agent.role.value} user {agent.login} ({agent.id})"


async def _purge(settings: Settings, *, dry_run: bool) -> str:
    from hub.database import Database
    from hub.keys import Keys
    from hub.purge import Purge
    from hub.redis_client import open_redis

    db = Database(settings.database_url)
    redis = None
    try:
        await db.migrate(data_dir=settings.data_dir)
        redis = await open_redis(settings)
        purge = Purge(db, redis.client, Keys(settings.redis.prefix), settings.retention,
                      settings.data_dir)
        report = await (purge.plan() if dry_run else purge.run())
    finally:
        if redis is not None:
            await redis.close()
        await db.close()
    if report is None:
        raise SystemExit("taxiconnect: another process is purging now; try again later")
    heading = "would remove" if dry_run else "removed"
    return "\n".join([f"purge as of {report.as_of.isoformat(timespec='seconds')}: {heading}",
                      *report.lines()])


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise SystemExit("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def _workers(value: str) -> int:
    count = int(value)
    if count < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return count


def _at_least_zero(value: str) -> int:
    count = int(value)
    if count < 0:
        raise argparse.ArgumentTypeError("0 or more")
    return count


def _seconds(value: str) -> float:
    seconds = float(value)
    if not seconds > 0:
        raise argparse.ArgumentTypeError("more than 0 seconds")
    return seconds


def _serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
                  summary: str) -> None:
    sub = commands.add_parser(name, help=summary, description=summary + ".\n\n" + WORKERS_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_argument("--workers", type=_workers, default=1, metavar="N",
                     help="hub processes sharing the listening port (default 1: this process "
                          "serves, as before)")
    sub.add_argument("--max-restarts", type=_at_least_zero, default=MAX_RESTARTS, metavar="N",
                     help="with --workers: restarts of exited workers allowed within "
                          f"--restart-window before the service stops (default {MAX_RESTARTS}; "
                          "0: stop at the first exit)")
    sub.add_argument("--restart-window", type=_seconds, default=RESTART_WINDOW_S,
                     metavar="SECONDS", help="with --workers: the window --max-restarts counts "
                                             f"in (default {RESTART_WINDOW_S:.0f})")
    # Internal: how the parent of `--workers N` hands its sockets to a worker.
    sub.add_argument("--listen-fd", type=int, action="append", help=argparse.SUPPRESS)
    sub.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxiconnect", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    commands = parser.add_subparsers(dest="command", required=True)
    _serve_parser(commands, "serve", "run the hub")
    _serve_parser(commands, "demo", "run the hub with demo data and a demo dispatcher")
    migrate_ = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate_.add_argument("--check", action="store_true",
                          help="change nothing: exit 0 if the schema is at the head revision, "
                               "1 with the current and head revisions if not")
    user = commands.add_parser("user", help="manage agent accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="add an agent; the password is read from stdin")
    add.add_argument("login")
    add.add_argument("--name", required=True)
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.TEAM.value)
    add.add_argument("--email")
    add.add_argument("--phone")
    add.add_argument("--phone-login")
    purge = commands.add_parser(
        "purge", help="remove data past its retention ([retention]) once, now")
    purge.add_argument("--dry-run", action="store_true",
                       help="print what the run would remove (count and oldest per class)")
    subject_cli.add_parsers(commands)
    backup_cli.add_parsers(commands)
    support_cli.add_parsers(commands)
    audit = commands.add_parser("audit", help="check the audit trail")
    audit.add_subparsers(dest="audit_command", required=True).add_parser(
        "verify", help="walk the audit trail's hash chain; exit 1 at the first broken link")
    return parser


PRIVATE_UMASK = 0o077  # what the hub writes (database, Redis files, attachments) is the hub's


def main(argv: list[str] | None = None) -> None:
    os.umask(PRIVATE_UMASK)
    args = _parser().parse_args(argv)
    try:
        config = _config_path(args.config)
        settings = load_settings(config)
        if args.command in ("serve", "demo"):
            make_private(settings.data_dir)
            demo = args.command == "demo"
            if args.listen_fd:
                _logging(settings, args.worker)
                serve_worker(settings, args.listen_fd, args.worker, demo=demo)
                return
            _logging(settings)
            if args.workers == 1:
                serve(settings, demo=demo)
                return
            policy = RestartPolicy(max_restarts=args.max_restarts,
                                   window_s=args.restart_window)
            raise SystemExit(serve_workers(settings, config, args.command, args.workers, policy))
        _logging(settings)
        if args.command == "migrate" and args.check:
            from hub.migrate_check import schema_revision

            revision = asyncio.run(schema_revision(settings.database_url))
            if not revision.at_head:
                raise SystemExit(f"taxiconnect: {revision.describe()}")
            print(revision.describe())
        elif args.command == "migrate":
            asyncio.run(migrate(settings))
            print("database schema is up to date")
        elif args.command == "user":
            print(asyncio.run(_add_user(settings, args, _read_password())))
        elif args.command == "purge":
            print(asyncio.run(_purge(settings, dry_run=args.dry_run)))
        elif args.command in subject_cli.COMMANDS:
            print(asyncio.run(subject_cli.run(settings, args)))
        elif args.command in backup_cli.COMMANDS:
            print(backup_cli.run(settings, args, config))
        elif args.command in support_cli.COMMANDS:
            print(support_cli.run(settings, args, config))
        elif args.command == "audit":
            from hub.audit_verify import verify

            intact, summary = asyncio.run(verify(settings.database_url, settings.data_dir))
            print(summary)
            if not intact:
                raise SystemExit(1)
    except TaxiConnectError as exc:
        raise SystemExit(f"taxiconnect: {exc}") from exc


if __name__ == "__main__":
    main()
