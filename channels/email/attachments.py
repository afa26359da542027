"""Mailed-in attachments kept by content hash (hub.attachment_store), each written before
the mail is acknowledged; a message's details list them as {name, type, size, sha256}."""

from __future__ import annotations

from pathlib import Path

from channels.email.mime import Attachment
from hub.attachment_store import store_file


def store_attachment(root: Path, attachment: Attachment) -> dict[str, object]:
    digest = store_file(root, attachment.data)
    return {"name": attachment.filename, "type": attachment.content_type,
            "size": attachment.size, "sha256": digest}
