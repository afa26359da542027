"""Audio of recordings and voice messages that the hub keeps in its own data folder, under
`recordings/`: fetched from a PBX's recording server (generic CTI, only from the origins
the operator allowed) or copied from Asterisk's spool mounted on the hub (only from inside
the mount). Kept there, a file is purged, exported and erased with its recording
(hub.purge.local_file), and played through the hub like a provider's.

A file is written to a `.part` name, synced and renamed before its recording is stored, so
a recording row never names a file that is not all there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
import wave
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from aiohttp import ClientError, ClientSession, ClientTimeout

from hub.errors import BadInput, RetryLater

FOLDER = "recordings"
FETCH_TIMEOUT = ClientTimeout(total=120, connect=10)
CHUNK_BYTES = 64 * 1024
MAX_PROVIDER_ID_CHARS = 128  # recordings.provider_id
# The suffixes a recording is kept under, with the type it is played as.
AUDIO_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
               ".opus": "audio/ogg", ".gsm": "audio/x-gsm", ".m4a": "audio/mp4",
               ".flac": "audio/flac"}
SUFFIX_OF_TYPE = {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav",
                  "audio/mpeg": ".mp3", "audio/ogg": ".ogg", "audio/x-gsm": ".gsm",
                  "audio/mp4": ".m4a", "audio/flac": ".flac"}
DEFAULT_SUFFIX = ".wav"


def folder(data_dir: Path) -> Path:
    return data_dir / FOLDER


def audio_type(path: Path) -> str:
    return AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")


def provider_key(text: str) -> str:
    """A provider's id of a recording, made to fit its column: a long one by its hash."""
    if len(text) <= MAX_PROVIDER_ID_CHARS:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def origin(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased, as the allow-list writes origins."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower().rpartition('@')[2]}"


def is_allowed(url: str, origins: tuple[str, ...]) -> bool:
    """Whether the hub may fetch `url`: http(s), no user info, on an allowed origin."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
        return False
    return origin(url) in {origin(o.rstrip("/")) for o in origins}


async def fetch(http: ClientSession, url: str, data_dir: Path, *, token: str,
                max_bytes: int) -> Path:
    """Download `url` (already allowed) into the data folder; its path. Redirects are not
    followed: they could lead off the allowed origins. BadInput when the server has no
    such recording or it is too large, RetryLater when the server is away or failing."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    target = _new_path(data_dir, PurePosixPath(urlsplit(url).path).suffix)
    partial = target.with_name(target.name + ".part")
    try:
        async with http.get(url, headers=headers, allow_redirects=False,
                            timeout=FETCH_TIMEOUT) as answer:
            if answer.status in (404, 410):
                raise BadInput(f"the recording URL answered {answer.status}",
                               {"url": "not found"})
            if answer.status != 200:
                raise RetryLater(f"the recording server answered {answer.status}",
                                 retry_after_s=30)
            if answer.content_length is not None and answer.content_length > max_bytes:
                raise _too_large(max_bytes)
            if not target.suffix:
                kind = answer.content_type.lower()
                target = target.with_suffix(SUFFIX_OF_TYPE.get(kind, DEFAULT_SUFFIX))
                partial = target.with_name(target.name + ".part")
            size = 0
            with partial.open("wb") as out:
                async for chunk in answer.content.iter_chunked(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(max_bytes)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        partial.replace(target)
    except (ClientError, TimeoutError, OSError) as exc:  # OSError: the data folder's disk
        raise RetryLater(f"the recording could not be fetched: {type(exc).__name__}",
                         retry_after_s=30) from exc
    finally:
        partial.unlink(missing_ok=True)
    return target


def spool_path(pbx_path: str, *, pbx_dir: str, mount: Path) -> Path | None:
    """Where a file Asterisk names (absolute, or relative to its monitor folder, as
    MixMonitor takes it) is read on the hub: the same place under the mount. None when
    it lies outside `pbx_dir` or leads out of the mount (`..`, a symbolic link)."""
    named = PurePosixPath(pbx_path)
    if not named.is_absolute():
        named = PurePosixPath(pbx_dir) / "monitor" / named
    try:
        inside = named.relative_to(PurePosixPath(pbx_dir))
    except ValueError:
        return None
    root = mount.resolve()
    found = (root / inside).resolve()
    return found if found.is_relative_to(root) and found != root else None


def voicemail_file(base: Path, mount: Path) -> Path | None:
    """The audio of a voice message: VM_MESSAGEFILE names it without a suffix, one file per
    format voicemail.conf keeps (`wav`, `wav49` as `.WAV`, `gsm`)."""
    for suffix in (".wav", ".WAV", ".gsm", ".mp3", ".ogg"):
        found = base.with_name(base.name + suffix).resolve()
        if found.is_relative_to(mount.resolve()) and found.is_file():
            return found
    return None


def copy_in(source: Path, data_dir: Path, *, max_bytes: int) -> Path:
    """Copy a spool file into the data folder (blocking: run it in a thread)."""
    if source.stat().st_size > max_bytes:
        raise _too_large(max_bytes)
    suffix = source.suffix.lower() if source.suffix.lower() in AUDIO_TYPES else DEFAULT_SUFFIX
    target = _new_path(data_dir, suffix)
    partial = target.with_name(target.name + ".part")
    try:
        with source.open("rb") as src, partial.open("wb") as out:
            shutil.copyfileobj(src, out, CHUNK_BYTES)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def wav_seconds(path: Path) -> int | None:
    """A PCM WAV file's length in whole seconds; None for any other format."""
    try:
        with wave.open(str(path), "rb") as audio:
            rate = audio.getframerate()
            return round(audio.getnframes() / rate) if rate else None
    except (wave.Error, EOFError, OSError):
        return None


def _new_path(data_dir: Path, suffix: str) -> Path:
    root = folder(data_dir)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    suffix = suffix.lower() if suffix.lower() in AUDIO_TYPES else ""
    return root / f"{uuid.uuid4().hex}{suffix}"


def _too_large(max_bytes: int) -> BadInput:
    return BadInput(f"the recording is over phone.recording_max_bytes ({max_bytes} bytes)",
                    {"url": "too large"})
