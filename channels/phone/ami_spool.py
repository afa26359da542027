"""Asterisk's finished recordings and voice messages (channels.phone.ami_recordings) taken
from its spool, mounted on the hub at `phone.ami.recordings_dir`: each file is found under
the mount (never outside it), copied into the hub's data folder and stored as the call's
recording, in a task of its own so the AMI connection reads on meanwhile.

A file can reach the mount a moment after Asterisk's event (a network share), so a missing
one is looked for again a few times; one a hang-up ended (MixMonitor's thread closes it a
moment later) is copied once its size has stopped changing. Paths are not logged: dialplans
often put the caller's number in the file name.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from channels.phone import recording_files
from channels.phone.ami_calls import PROVIDER
from channels.phone.ami_recordings import VOICEMAIL, SpoolFile
from hub.errors import BadInput, RetryLater
from hub.recordings import RecordingReport, Recordings
from hub.settings import AmiSettings

log = logging.getLogger(__name__)

FILE_RETRIES_S = (0.5, 2.0, 5.0)
SETTLE_S = 0.5  # a file unchanged in size this long is taken as closed
SETTLE_LOOKS = 20
STORE_RETRIES_S = (1.0, 5.0, 15.0)


class SpoolKeeper:
    def __init__(self, ami: AmiSettings, recordings: Recordings, data_dir: Path,
                 max_bytes: int) -> None:
        self._mount = Path(ami.recordings_dir)
        self._pbx_dir = ami.recordings_pbx_dir
        self._recordings = recordings
        self._data_dir = data_dir
        self._max_bytes = max_bytes
        self._tasks: set[asyncio.Task[None]] = set()
        self.kept = 0
        self.lost = 0

    def __repr__(self) -> str:
        return (f"<SpoolKeeper kept={self.kept} lost={self.lost} "
                f"copying={len(self._tasks)}>")

    def keep(self, found: SpoolFile) -> None:
        task = asyncio.create_task(self._keep(found), name="asterisk-recording")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _keep(self, found: SpoolFile) -> None:
        try:
            outcome = await self._store(found)
        except OSError as exc:  # its message would name the file: the caller's number, often
            outcome = f"the file could not be read ({exc.strerror or type(exc).__name__})"
        except (RuntimeError, ValueError) as exc:  # a symbolic link loop; a NUL in the name
            outcome = f"the file's path is unusable ({type(exc).__name__})"
        except Exception as exc:  # the type only: a message could carry the path
            outcome = f"failed ({type(exc).__name__})"
        if outcome == "kept":
            self.kept += 1
            log.info("Asterisk %s of call %s kept", found.kind, found.call_key)
        elif outcome != "repeat":
            self.lost += 1
            log.warning("Asterisk %s of call %s not kept: %s", found.kind, found.call_key,
                        outcome)

    async def _store(self, found: SpoolFile) -> str:
        named = await asyncio.to_thread(recording_files.spool_path, found.pbx_path,
                                        pbx_dir=self._pbx_dir, mount=self._mount)
        if named is None:
            return "the file lies outside phone.ami.recordings_pbx_dir or the mount"
        source = await asyncio.to_thread(self._find, named, found.kind)
        for wait in FILE_RETRIES_S:
            if source is not None:
                break
            await asyncio.sleep(wait)
            source = await asyncio.to_thread(self._find, named, found.kind)
        if source is None:
            return "the file is not in the mounted spool"
        if not found.settled and not await _settled(source):
            return "the file kept changing"
        provider_id = recording_files.provider_key(
            f"{found.call_key}:{source.relative_to(self._mount.resolve())}")
        if await self._recordings.location_of(PROVIDER, provider_id) is not None:
            return "repeat"
        try:
            kept = await asyncio.to_thread(recording_files.copy_in, source, self._data_dir,
                                           max_bytes=self._max_bytes)
        except BadInput as exc:
            return exc.reason
        report = RecordingReport(
            provider=PROVIDER, call_keys=(found.call_key,), provider_id=provider_id,
            location=str(kept), completed_at=found.completed_at, kind=found.kind,
            duration_s=await asyncio.to_thread(recording_files.wav_seconds, kept))
        added: bool | None = False
        try:
            for wait in (0.0, *STORE_RETRIES_S):
                await asyncio.sleep(wait)
                try:
                    added = await self._recordings.add(report)
                    break
                except RetryLater:
                    continue
            else:
                return "the database stayed unavailable"
        finally:
            if added is not True:
                await asyncio.to_thread(kept.unlink, missing_ok=True)
        if added is None:
            return "no call followed with its Linkedid (an internal call?)"
        return "kept" if added else "repeat"

    @staticmethod
    def _find(named: Path, kind: str) -> Path | None:
        if kind == VOICEMAIL:
            return recording_files.voicemail_file(named, named.parent)
        return named if named.is_file() else None


async def _settled(path: Path) -> bool:
    size = -1
    for _ in range(SETTLE_LOOKS):
        now = (await asyncio.to_thread(path.stat)).st_size
        if now == size:
            return True
        size = now
        await asyncio.sleep(SETTLE_S)
    return False
