"""The whole suite's log, written as production writes it, searched for personal data.

Every record any logger emits during a test run (the hub's, the access log through the hub's
own access logger, aiosmtpd's, redis', ...) is written the way `taxiconnect serve` writes its
log: INFO and up, through the masking filter `hub.log_privacy` installs. Each hub the tests
start as a process (tests/hub_process.py) writes its own log, with the access log on; those
are read too.

At the end of the session the lot is searched, independently of the masker, for what the
tests themselves feed the hub: every phone number, email address, message text, password,
token and secret written as a literal in the test sources. A find fails the run and names
the file and the kind of literal (never the literal itself).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hub.log_privacy import MaskingFilter

TESTS = Path(__file__).parent
HUB_SOURCES = [TESTS.parent / name for name in ("hub", "channels", "dispatch")]
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_NUMBER_LITERAL = re.compile(r"(?<![\w.])(?:\+\d{9,15}|0\d{1,3}[ -]?\d{3}[ -]?\d{3,4})(?![\w])")
_EMAIL_LITERAL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
_SECRET_LITERAL = re.compile(
    r"^\s*[A-Z_]*(?:SECRET|TOKEN|PASSWORD|API_KEY)[A-Z_]*\s*=\s*\"([^\"]{6,})\"", re.MULTILINE)
_TEXT_LITERAL = re.compile(r"\"(?:message|body|text|Body|subject)\":\s*\"([^\"\\]{12,})\"")
FOLDER_VARIABLE = "TESTS_SUITE_LOG_DIR"  # not TAXICONNECT_*: no setting of the hub
# Digits as a log line might carry a number: with the separators people type.
_DIGITS_IN_LINE = re.compile(r"\+?\d[\d \-()]{5,}\d")
# Numbers compare on their last 9 digits: "+358 40 123 4567" and "040 1234567" are one.
NUMBER_TAIL = 9


@dataclass(frozen=True)
class Leak:
    source: str  # the log file, or "in-process"
    kind: str  # number, email, text or secret
    line: int


@dataclass(frozen=True)
class Literals:
    """What the tests feed the hub, harvested from their sources."""

    number_tails: frozenset[str]
    emails: frozenset[str]
    texts: frozenset[str]
    secrets: frozenset[str]

    @classmethod
    def harvest(cls, sources: Iterable[str], hub_sources: Iterable[str] = ()) -> Literals:
        numbers: set[str] = set()
        emails: set[str] = set()
        texts: set[str] = set()
        secrets: set[str] = set()
        for text in sources:
            numbers |= {_tail(m.group(0)) for m in _NUMBER_LITERAL.finditer(text)}
            emails |= {m.group(0).lower() for m in _EMAIL_LITERAL.finditer(text)}
            texts |= {m.group(1) for m in _TEXT_LITERAL.finditer(text)}
            secrets |= {m.group(1) for m in _SECRET_LITERAL.finditer(text)}
        # What the hub says itself (an error reason a test expects back) is not a body.
        said = "\n".join(hub_sources)
        texts = {t for t in texts if t not in said and " " in t.strip()}
        return cls(frozenset(n for n in numbers if len(n) == NUMBER_TAIL), frozenset(emails),
                   frozenset(texts), frozenset(secrets))

    def leaks_in(self, lines: Iterable[str], source: str) -> Iterator[Leak]:
        texts = _alternation(self.texts)
        secrets = _alternation(self.secrets)
        for number, line in enumerate(lines, 1):
            for match in _DIGITS_IN_LINE.finditer(line):
                if _tail(match.group(0)) in self.number_tails:
                    yield Leak(source, "number", number)
            if any(m.group(0).lower() in self.emails for m in _EMAIL_LITERAL.finditer(line)):
                yield Leak(source, "email", number)
            if texts is not None and texts.search(line):
                yield Leak(source, "text", number)
            if secrets is not None and secrets.search(line):
                yield Leak(source, "secret", number)


def _tail(text: str) -> str:
    return re.sub(r"\D", "", text)[-NUMBER_TAIL:]


def _alternation(literals: frozenset[str]) -> re.Pattern[str] | None:
    if not literals:
        return None
    return re.compile("|".join(re.escape(x) for x in sorted(literals, key=len, reverse=True)))


class SuiteLog:
    """This process's share of the run's log, in a folder all processes of the run share.

    Under pytest-xdist each worker is a process of its own: the folder is made by the first
    process (the controller), named in the environment the workers inherit, and read whole by
    that process once every worker has finished."""

    def __init__(self) -> None:
        named = os.environ.get(FOLDER_VARIABLE)
        self.owner = not named
        if not named:
            named = tempfile.mkdtemp(prefix="taxiconnect-suite-log-")
            os.environ[FOLDER_VARIABLE] = named
        self.folder = Path(named)
        self.path = self.folder / f"{os.getpid()}.log"
        self._handler = logging.FileHandler(self.path, encoding="utf-8", delay=True)
        self._handler.setFormatter(logging.Formatter(FORMAT))
        self._handler.setLevel(logging.INFO)
        self._handler.addFilter(MaskingFilter())
        # The stand-ins for gateways and providers are test servers of aiohttp's own: their
        # access log is theirs, not the hub's (the hub's is "hub.access").
        self._handler.addFilter(lambda record: record.name != "aiohttp.access")

    def start(self) -> None:
        root = logging.getLogger()
        root.addHandler(self._handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)

    def stop(self, process_logs: Iterable[Path]) -> None:
        """Close this process's log and name the hub processes' logs it started."""
        logging.getLogger().removeHandler(self._handler)
        self._handler.close()
        (self.folder / f"{os.getpid()}.hubs").write_text(
            "".join(f"{path}\n" for path in process_logs), encoding="utf-8")

    def leaks(self, literals: Literals) -> list[Leak]:
        """Every process's log and every hub process's log of the run (the owner's job)."""
        found: list[Leak] = []
        hubs = [Path(line) for listing in sorted(self.folder.glob("*.hubs"))
                for line in listing.read_text(encoding="utf-8").splitlines() if line]
        sources = [(path, f"in-process ({path.name})") for path in sorted(
            self.folder.glob("*.log"))] + [(path, str(path)) for path in hubs]
        for path, source in sources:
            if path.exists():
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
                found += literals.leaks_in(lines, source)
        return found


def harvest_literals() -> Literals:
    sources = [p.read_text(encoding="utf-8") for p in TESTS.rglob("*.py")]
    hub_sources = [p.read_text(encoding="utf-8")
                   for folder in HUB_SOURCES for p in folder.rglob("*.py")]
    return Literals.harvest(sources, hub_sources)


# Opened by the session's start (tests/conftest.py); hub processes add their log files.
PROCESS_LOGS: list[Path] = []
