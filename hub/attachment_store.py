"""Files kept on disk by content hash under the data folder (`data_dir/attachments`): the
same file mailed in or uploaded twice is stored once, and written (and synced) before it is
acknowledged. A file that arrives again is touched: its age (the purge's measure,
hub.purge) counts from the last time it came."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from hub.model import FileRef

FOLDER = "attachments"  # under the data folder
_SHA256 = re.compile(r"[0-9a-f]{64}")


def store_file(root: Path, data: bytes) -> str:
    """Keep `data` under `root` and give its SHA-256 (hex), the file's name."""
    digest = hashlib.sha256(data).hexdigest()
    path = file_path(root, digest)
    try:
        os.utime(path)
    except FileNotFoundError:  # new, or purged a moment ago
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")
        with partial.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
    return digest


def file_path(root: Path, digest: str) -> Path:
    return root / digest[:2] / digest


def attachments_root(data_dir: Path) -> Path:
    """The folder of every kept file, under the hub's data folder."""
    return data_dir / FOLDER


def stored_path(data_dir: Path, digest: str) -> Path:
    """Where the hub keeps the file with this SHA-256 (hex), under its data folder."""
    return file_path(attachments_root(data_dir), digest)


# The first bytes a file of each type begins with; a type not here has none checked.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # and "WEBP" at offset 8
    "application/pdf": (b"%PDF-",),
}
HEAD_BYTES = 12  # enough of a file's start for every signature


def looks_like(content_type: str, head: bytes) -> bool:
    """Whether a file starting with `head` is the type it was declared as (true of a type
    whose signature this module does not know)."""
    starts = SIGNATURES.get(content_type)
    if starts is None:
        return True
    if content_type == "image/webp" and head[8:12] != b"WEBP":
        return False
    return head.startswith(starts)


def file_refs(details: Any) -> tuple[FileRef, ...]:
    """The files a message's details list (`attachments`: name, type, size, sha256); none
    for details without a readable list."""
    listed = details.get("attachments") if isinstance(details, dict) else None
    try:
        entries = json.loads(listed) if isinstance(listed, str) else listed
    except ValueError:
        return ()
    if not isinstance(entries, list):
        return ()
    return tuple(
        FileRef(name=str(e.get("name") or "attachment"),
                content_type=str(e.get("type") or "application/octet-stream"),
                size=e["size"] if isinstance(e.get("size"), int) else 0,
                sha256=str(e["sha256"]))
        for e in entries if isinstance(e, dict) and _SHA256.fullmatch(str(e.get("sha256"))))


def file_record(ref: FileRef) -> dict[str, object]:
    """How a message's details list a file (as mailed-in attachments are)."""
    return {"name": ref.name, "type": ref.content_type, "size": ref.size, "sha256": ref.sha256}
