"""`taxiconnect support-bundle`: what the vendor needs to reproduce a problem in its test
environment, and nothing of the passengers'.

The bundle (a .tar.gz) holds the configuration (hub.support_config), version, store, health
and data-folder facts (hub.support_facts), and the log files the operator names. Every file's
text passes hub.log_privacy.mask_text on its way in, the one masker the hub's own log uses.
That masker catches numbers and addresses; a name or a message text cannot be recognised in
free text, so the bundle is built never to read one: counts instead of rows, stream lengths
instead of entries, and the hub's log, which carries neither (tests/hub/test_log_privacy.py).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hub.errors import BadInput
from hub.log_privacy import mask_text
from hub.settings import Settings
from hub.support_config import config_file_text, settings_json
from hub.support_facts import all_facts

ROOT = "taxiconnect-support"  # the one folder every file of the archive is in
MAX_LOG_BYTES = 50 * 1024 * 1024  # of each log file, its newest part; a support mail's size

README = """\
TaxiConnect support bundle, written {when} by `taxiconnect support-bundle`.

What it holds
- config/settings.json: the settings in effect (file and TAXICONNECT_* variables), every
  secret as "********", addresses without their credentials or query strings.
- config/taxiconnect.toml: the configuration file, every secret value masked.
- facts/version.json: TaxiConnect's version and commit, Python, the libraries, the OS.
- facts/database.json: the database kind, its schema revision, the number of rows per table.
- facts/redis.json: the Redis kind, a summary of its INFO, the length of each stream and its
  consumer groups' backlog.
- facts/health.json and facts/metrics.txt: what the running hub answered at /healthz,
  /readyz and /metrics.
- facts/data_dir.json: the data folder's entries with their file counts and sizes.
- logs/: the log files given with --log.

What it never holds
- No row, stream entry or Redis value: no passenger's or agent's name, number, address or
  message, no recording, attachment or file name from inside the data folder.
- No secret: passwords, tokens, keys and the credentials in database and Redis URLs.
- Every file's text has passed the hub's log masker: a phone number reads +***21, an email
  address ***@example.fi.

Notes
{notes}
"""


@dataclass
class Bundle:
    """The bundle's files, each text masked as it is added."""

    files: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, text: str) -> None:
        self.files[f"{ROOT}/{mask_text(name)}"] = mask_text(text).encode("utf-8")

    def add_json(self, name: str, value: object) -> None:
        self.add(name, json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n")

    def archive(self) -> bytes:
        out = io.BytesIO()
        now = time.time()
        with tarfile.open(fileobj=out, mode="w:gz") as tar:
            for name, data in self.files.items():
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), int(now), 0o600
                tar.addfile(info, io.BytesIO(data))
        return out.getvalue()


async def collect(settings: Settings, config: Path | None, logs: list[Path]) -> Bundle:
    """Gather the bundle; a log file that cannot be read is bad input (nothing is written)."""
    bundle = Bundle()
    log_texts = [(path, _read_log(path)) for path in logs]
    bundle.add("config/settings.json", settings_json(settings))
    masked, note = config_file_text(config)
    bundle.notes.append(note)
    if masked is not None:
        bundle.add("config/taxiconnect.toml", masked)
    facts = await all_facts(settings)
    metrics = facts.pop("metrics")
    for name, value in facts.items():
        bundle.add_json(f"facts/{name}.json", value)
    if isinstance(metrics, str):
        bundle.add("facts/metrics.txt", metrics)
    else:
        bundle.notes.append("no /metrics: the hub did not answer it (see facts/health.json)")
    for index, (path, text) in enumerate(log_texts):
        bundle.add(f"logs/{index + 1}-{path.name or 'stdin'}", text)
    bundle.notes.append(
        f"{len(log_texts)} log file(s) included. The hub writes its log to standard error "
        "(the service manager's journal), not to a file of its own: save it with e.g. "
        "`journalctl --namespace=taxiconnect -u taxiconnect --since -2d > hub.log` and pass "
        "--log hub.log."
        if not log_texts else f"{len(log_texts)} log file(s) included, as given with --log.")
    bundle.add("README.txt", README.format(
        when=datetime.now(UTC).isoformat(timespec="seconds"),
        notes="\n".join(f"- {note}" for note in bundle.notes)))
    return bundle


def _read_log(path: Path) -> str:
    """The log's newest MAX_LOG_BYTES, as text."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - MAX_LOG_BYTES))
            data = log.read()
    except OSError as exc:
        raise BadInput(f"cannot read log file {path}: {exc.strerror or exc}") from exc
    if size > MAX_LOG_BYTES:
        data = data.partition(b"\n")[2]  # from the first whole line
    return data.decode("utf-8", errors="replace")


def write(bundle: Bundle, output: Path) -> int:
    """Write the archive, readable by its writer only; its size. An existing file is never
    overwritten."""
    data = bundle.archive()
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise BadInput(f"{output} exists already; name a new file with --output") from exc
    except OSError as exc:
        raise BadInput(f"cannot write {output}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return len(data)


def default_output(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return Path(f"taxiconnect-support-{stamp}.tar.gz")
