"""A request's callback, as part of the one owner of request state (hub.handling).

A request becomes a callback when a new one arrives out of hours or from a chat nobody can
take (its first columns from hub.callback_columns, written by ingest), or when an inbound
call is missed (`mark_callback`). Misses within the repeat window fold into one callback
(its count grows, its deadline stays); a miss after it starts the callback over. The
dispatcher calls back (`callback_call`) and records how it went (`callback_outcome`):
"reached" makes the callback done, anything else counts an attempt.

The state is in columns of its own (hub.schema); hub.callback_columns reads them for
consoles and gives a new request its callback.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.error_codes import ErrorCode
from hub.errors import Conflict
from hub.events import EventType
from hub.handling import (
    Handled,
    Step,
    back_in_queue,
    change,
    changed,
    first_response,
    taken_by,
)
from hub.handling_take import holding, may_take
from hub.model import Agent, CallbackOutcome, CallbackState, HandlingAction, RequestStatus

r = schema.contact_requests
CALLBACK_PRIORITY = 100  # above every ordinary request (hub.lanes.DEFAULT_PRIORITY is 0)

OUTCOME_ACTIONS: Mapping[CallbackOutcome, HandlingAction] = {
    CallbackOutcome.REACHED: HandlingAction.CALLBACK_REACHED,
    CallbackOutcome.NO_ANSWER: HandlingAction.CALLBACK_NO_ANSWER,
    CallbackOutcome.BUSY: HandlingAction.CALLBACK_BUSY,
    CallbackOutcome.WRONG_NUMBER: HandlingAction.CALLBACK_WRONG_NUMBER,
    CallbackOutcome.LEFT_MESSAGE: HandlingAction.CALLBACK_LEFT_MESSAGE,
}

async def mark_callback(conn: AsyncConnection, request_id: uuid.UUID, *, at: datetime,
                        rang_from: datetime, number: str | None, window: timedelta,
                        due_in: timedelta) -> None:
    """An inbound call to the request was missed at `at` (it rang from `rang_from`). With a
    `number` the passenger waits for a callback, above ordinary requests; an anonymous
    miss is counted but nobody can call back. A request resolved while it rang waits again."""
    found = (await conn.execute(
        select(r.c.status, r.c.priority, r.c.callback, r.c.last_missed_at)
        .where(r.c.id == request_id).with_for_update())).one()
    values: dict[str, Any] = {
        "last_missed_at": at,
        "missed_wait_s": max(0, round((at - rang_from).total_seconds())),
    }
    previous = found.last_missed_at
    if (found.callback == CallbackState.REQUESTED.value and previous is not None
            and at - previous <= window):
        values["missed_calls"] = r.c.missed_calls + 1
    else:
        values.update(missed_calls=1, callback_requested_at=at, callback_due_at=at + due_in)
    if number is not None:
        values.update(callback=CallbackState.REQUESTED.value, callback_number=number[:32],
                      priority=max(found.priority, CALLBACK_PRIORITY))
    if found.status == RequestStatus.RESOLVED.value:  # closed while it rang
        values.update(back_in_queue(at))
    await change(conn, request_id, values)


async def callback_call(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent, *,
                        at: datetime) -> Handled:
    """The agent calls the passenger back now: the request is theirs, and answered."""
    await may_take(conn, request_id, agent, at=at, doing="call back")
    step = Step(agent, HandlingAction.CALLBACK_CALL, at)
    await change(conn, request_id,
                 {**taken_by(agent.id, at), **first_response(at), "callback_called_at": at},
                 step=step)
    return await changed(conn, EventType.REQUEST_CALLBACK_CALL, request_id, step=step)


async def callback_outcome(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent,
                           outcome: CallbackOutcome, note: str | None, *,
                           at: datetime) -> Handled:
    """What came of calling back. On an open request the agent takes it. A request the
    PBX's call resolved (hub.handling_calls) takes only its last agent's outcome: "reached"
    leaves it resolved; any other takes it back, held by them and still a callback."""
    found = await holding(conn, request_id, agent)
    values: dict[str, Any] = {"callback_outcome": outcome.value, "callback_outcome_at": at}
    if found.status is not RequestStatus.RESOLVED:
        await may_take(conn, request_id, agent, at=at, doing="call back")
        values.update(taken_by(agent.id, at))
    elif found.last_agent_id != agent.id:
        raise Conflict(ErrorCode.REQUEST_RESOLVED, {"status": found.status.value})
    elif outcome is not CallbackOutcome.REACHED:
        values.update(taken_by(agent.id, at), ended_at=None)
    if outcome is CallbackOutcome.REACHED:
        values.update(callback_done_at=at, callback=case(
            (r.c.callback == CallbackState.REQUESTED.value, CallbackState.DONE.value),
            else_=r.c.callback))
    else:
        values["callback_attempts"] = r.c.callback_attempts + 1
    step = Step(agent, OUTCOME_ACTIONS[outcome], at, note=note)
    await change(conn, request_id, values, step=step)
    return await changed(conn, EventType.REQUEST_CALLBACK_OUTCOME, request_id, step=step,
                         extra={"outcome": outcome.value})


async def forget_callback_numbers(conn: AsyncConnection, request_ids: list[uuid.UUID]) -> None:
    """Retention (hub.purge): the number to call back is personal data; the callback's
    state and times stay for the reports. No event: nobody is shown an anonymised request."""
    if request_ids:
        r = schema.contact_requests
        await conn.execute(update(r).where(r.c.id.in_(request_ids)).values(callback_number=None))
