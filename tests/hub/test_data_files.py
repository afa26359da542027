"""What a hub run as an operator runs it writes to its data folder (the SQLite database,
the embedded Redis's files, attachments) is readable by the hub's user only (issue 13, 16):
passengers' numbers and messages are in it."""

from __future__ import annotations

import stat
from pathlib import Path

import aiohttp

from hub.settings import Settings
from tests.conftest import free_port
from tests.helpers import order
from tests.hub_process import kill_leftovers, start_hub


async def test_the_data_folder_and_its_files_are_private(tmp_path: Path,
                                                          settings: Settings) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)  # as an older installation left it
    hub = start_hub(settings, tmp_path, free_port())
    try:
        await hub.ready()
        async with aiohttp.ClientSession() as http, http.post(
                f"{hub.base}/api/v1/contact-requests", json=order("tok-private-files")) as answer:
            assert answer.status == 201
        assert await hub.stop() == 0
    finally:
        kill_leftovers([hub], {data})
    exposed = [f"{path.relative_to(tmp_path)} {stat.filemode(path.stat().st_mode)}"
               for path in [data, *data.rglob("*")]
               if path.exists() and path.stat().st_mode & 0o077]
    assert exposed == []
