"""Database errors, which end up in logs, never carry the statement's parameters."""

from __future__ import annotations

import pytest

from hub.agents import add_agent
from hub.appkeys import DATABASE
from hub.errors import Conflict
from hub.model import Role
from tests.conftest import PASSWORD, HubFactory


async def test_a_database_error_does_not_show_personal_data(hub: HubFactory) -> None:
    client = await hub()
    db = client.app[DATABASE]
    await add_agent(db, login="aino", name="Aino", role=Role.TEAM, password=PASSWORD,
                    email="aino.private@example.org", phone="+358401234567")
    with pytest.raises(Conflict) as raised:
        await add_agent(db, login="aino", name="Aino Two", role=Role.TEAM, password=PASSWORD,
                        email="second.private@example.org", phone="+358409876543")
    underlying = str(raised.value.__cause__)
    assert "UNIQUE" in underlying.upper() or "unique" in underlying
    for private in ("second.private@example.org", "+358409876543", "Aino Two"):
        assert private not in underlying
