"""Attachments kept on disk by content hash, under the data folder: the same file mailed
twice is stored once, and a file is written (and synced) before the mail is acknowledged.
A file that arrives again is touched: its age (the purge's measure, hub.purge) counts from
the last mail that carried it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from channels.email.mime import Attachment


def store_attachment(root: Path, attachment: Attachment) -> dict[str, object]:
    digest = hashlib.sha256(attachment.data).hexdigest()
    path = root / digest[:2] / digest
    try:
        os.utime(path)
    except FileNotFoundError:  # new, or purged a moment ago
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")
        with partial.open("wb") as out:
            out.write(attachment.data)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
    return {"name": attachment.filename, "type": attachment.content_type,
            "size": attachment.size, "sha256": digest}
