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


async def test_a_database_in_a_shared_folder_tightens_its_own_files_only(
        tmp_path: Path, settings: Settings) -> None:
    """An operator's SQLite file in a folder they share with other things (as /tmp or
    /var/lib are): the hub makes the database's files private and leaves the folder and
    everything else in it as they were."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o1777)  # as /tmp is
    neighbour, neighbours_folder = shared / "notes.txt", shared / "other-app"
    neighbour.write_text("not the hub's")
    neighbour.chmod(0o644)
    neighbours_folder.mkdir(mode=0o755)
    database = shared / "taxi.db"
    hub = start_hub(settings, tmp_path, free_port(), env_settings={
        "TAXICONNECT_DATABASE_URL": f"sqlite+aiosqlite:///{database}"})
    try:
        await hub.ready()
        async with aiohttp.ClientSession() as http, http.post(
                f"{hub.base}/api/v1/contact-requests", json=order("tok-shared-db")) as answer:
            assert answer.status == 201
        assert await hub.stop() == 0
    finally:
        kill_leftovers([hub], {tmp_path / "data"})
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE(neighbour.stat().st_mode) == 0o644
    assert stat.S_IMODE(neighbours_folder.stat().st_mode) == 0o755
    assert stat.S_IMODE(database.stat().st_mode) & 0o077 == 0
