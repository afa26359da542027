"""One signed POST of a webhook event to one endpoint, what its answer means, and how long to
wait before the next attempt.

Retried: 5xx, 408, 429, a timeout, a lost or refused connection. Anything else that is not a
2xx (a 4xx, a redirect, which is not followed) is the receiver refusing the event: sending it
again would not help, so the delivery fails at once. Errors are reduced to a short reason
here, at the edge: aiohttp's messages name the URL, and the URL may carry a token.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from aiohttp import ClientConnectionError, ClientError, ClientSession, ClientTimeout

from hub.settings import WebhookEndpoint
from hub.signature import HEADER, sign
from hub.webhook_body import WebhookEvent

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429})
MAX_ANSWER_BYTES = 4096  # what is read of an answer before the connection is let go
USER_AGENT = "TaxiConnect-Webhooks/1"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None  # the receiver's HTTP status; None when it never answered
    error: str | None  # None on a 2xx
    retry: bool
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def headers(endpoint: WebhookEndpoint, event: WebhookEvent, now: float) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        HEADER: sign(event.body, endpoint.secret.reveal(), int(now)),
        "Idempotency-Key": event.id,
        "X-TaxiConnect-Event-Id": event.id,
        "X-TaxiConnect-Event": event.type.value,
    }


async def post(session: ClientSession, endpoint: WebhookEndpoint, event: WebhookEvent, *,
               now: float, timeout_s: float) -> Answer:
    try:
        async with session.post(endpoint.url, data=event.body,
                                headers=headers(endpoint, event, now), allow_redirects=False,
                                timeout=ClientTimeout(total=timeout_s)) as response:
            await response.content.read(MAX_ANSWER_BYTES)
            status = response.status
            retry_after = _seconds(response.headers.get("Retry-After"))
    except TimeoutError:
        return Answer(None, "timeout", retry=True)
    except ClientConnectionError as exc:
        return Answer(None, f"connection: {type(exc).__name__}"[:64], retry=True)
    except ClientError as exc:
        return Answer(None, f"client: {type(exc).__name__}"[:64], retry=True)
    if 200 <= status < 300:
        return Answer(status, None, retry=False)
    retry = status >= 500 or status in RETRY_STATUSES
    return Answer(status, f"http {status}", retry=retry, retry_after_s=retry_after)


def backoff_s(attempts: int, *, base_s: float, max_s: float,
              retry_after_s: float | None = None, rng: random.Random | None = None) -> float:
    """The wait after the `attempts`-th failed attempt: exponential, capped, with jitter (a
    receiver coming back is not hit by every hub process at the same instant); never shorter
    than what a 429 / 503 asked for, within the cap."""
    ceiling = min(max_s, base_s * 2 ** max(0, attempts - 1))
    wait = (rng or random).uniform(ceiling / 2, ceiling)
    if retry_after_s is not None:
        wait = max(wait, min(max_s, retry_after_s))
    return wait


def _seconds(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())
