"""SQLite's WAL checkpoints, off the commit path.

By default the connection whose commit takes the write-ahead log past 1,000 pages copies
the log back into the database file, and fsyncs it, before that commit returns: under a
steady flow of contacts that is about once a second, and the passenger whose POST drew
that commit waits for it. Here the hub's connections let the log grow to BACKSTOP_PAGES
before they would do it themselves, and a thread of its own runs a PASSIVE checkpoint
every EVERY_S instead; PASSIVE waits for no reader and no writer, so commits go on
meanwhile. Should that thread stall, the backstop bounds the log (~40 MB)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

EVERY_S = 0.5
BACKSTOP_PAGES = 10_000  # PRAGMA wal_autocheckpoint on the hub's own connections


class Checkpointer:
    def __init__(self, engine: Engine, every_s: float = EVERY_S) -> None:
        self._engine = engine
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def __repr__(self) -> str:
        return f"<Checkpointer every {self._every_s:g} s runs={self.runs}>"

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop and join (a checkpoint under way finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                with self._engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                self.runs += 1
            except SQLAlchemyError as exc:  # the commits' backstop checkpoints meanwhile
                log.warning("WAL checkpoint failed: %s", exc)
        self._engine.dispose()
