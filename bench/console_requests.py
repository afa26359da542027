"""Open requests for bench/console.py, made the way passengers make them: the web form's JSON
API (`POST /api/v1/contact-requests`) and, for a share of them, signed Twilio SMS webhooks.

Each passenger has a number of their own, so every contact opens a request of its own (a
second contact from the same number would thread into the first). The texts are the short
Finnish orders a taxi centre's queue is full of, picked deterministically from a few lists.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode

import aiohttp

from channels.sms.twilio_signature import twilio_signature

T = TypeVar("T")

HUB_NUMBER = "+358401000000"  # the number passengers text
TWILIO_AUTH_TOKEN = "bench-console-token"  # the hub checks the webhook signature with it
TWILIO_ACCOUNT_SID = "AC" + "0" * 32
TWILIO_API_VERSION = "2010-04-01"
FORM_PREFIX = "+35840"  # passengers who use the form: a mobile number each, 7 digits after this
SMS_PREFIX = "+35850"  # passengers who text: 7 digits after this
ATTEMPTS = 20  # a contact answered 503 (the hub at capacity) is sent again after Retry-After

FIRST_NAMES = ["Aino", "Eino", "Helmi", "Väinö", "Sofia", "Juhani", "Aada", "Mikko", "Kerttu",
               "Onni", "Linnea", "Matti", "Iida", "Pekka", "Elli", "Tapio", "Siiri", "Jukka"]
LAST_NAMES = ["Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen",
              "Laine", "Heikkinen", "Koskinen", "Järvinen", "Lehtonen", "Saarinen"]
STREETS = ["Mannerheimintie", "Hämeentie", "Aleksanterinkatu", "Mechelininkatu", "Itäkatu",
           "Tapiolantie", "Runeberginkatu", "Sturenkatu", "Lönnrotinkatu", "Kauppakatu"]
PLACES = ["Helsinki-Vantaan lentoasema", "Pasilan asema", "Meilahden sairaala", "Kamppi",
          "Tikkurilan asema", "Itäkeskus", "Länsisatama, terminaali 2", "Jumbo"]
ORDERS = [
    "Taksi osoitteeseen {street} {n}, {place}. Kaksi matkustajaa.",
    "Tarvitsen tilataksin pyörätuolille klo {hour}.{minute:02d}, {street} {n}.",
    "Missä taksini viipyy? Tilasin puoli tuntia sitten osoitteeseen {street} {n}.",
    "Unohdin puhelimen takapenkille, kyyti {street} → {place}.",
    "Voiko kyydin maksaa laskulla? Yritys Oy, viite {n}{minute:02d}.",
    "Iso auto neljälle ja matkatavaroille, {place} klo {hour}.{minute:02d}.",
    "Taksi {place} → {street} {n}, lastenistuin tarvitaan.",
]


def passenger_name(i: int) -> str:
    rng = random.Random(i)
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def order_text(i: int) -> str:
    rng = random.Random(10_000 + i)
    return rng.choice(ORDERS).format(street=rng.choice(STREETS), n=rng.randint(1, 120),
                                     place=rng.choice(PLACES), hour=rng.randint(6, 23),
                                     minute=rng.choice(range(0, 60, 5)))


@dataclass
class Submitted:
    """One contact the bench sent: when, and what the hub answered."""

    sent: float  # time.monotonic()
    answered: float = 0.0  # time.monotonic() at the answer
    answered_epoch: float = 0.0  # time.time() at the answer, to set against the browser's
    status: int = 0  # 0: no answer
    reference: str = ""


class Passengers:
    """The passengers' side of the hub: form submissions and inbound SMS, each a new number."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, phone_base: int) -> None:
        self.session = session
        self.base = base_url  # also the public URL the hub checks Twilio's signature against
        self.phone_base = phone_base

    def __repr__(self) -> str:
        return f"<Passengers {self.base}>"

    async def form(self, i: int) -> Submitted:
        """A web-form order as JSON; the answer carries the request's reference."""
        phone = f"{FORM_PREFIX}{(self.phone_base + i) % 10**7:07d}"
        fields = {"name": passenger_name(i), "phone": phone, "message": order_text(i),
                  "language": "fi",
                  "submission_token": f"bench-{uuid.uuid4().hex}"}
        done = Submitted(time.monotonic())
        for _ in range(ATTEMPTS):
            async with self.session.post(f"{self.base}/api/v1/contact-requests",
                                         json=fields) as answer:
                done.answered, done.answered_epoch = time.monotonic(), time.time()
                done.status = answer.status
                if answer.status != 503:
                    if answer.status == 201:
                        done.reference = (await answer.json())["reference"]
                    return done
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
        return done

    async def sms(self, i: int) -> Submitted:
        """An inbound SMS as Twilio posts it, signed over the hub's public URL."""
        url = f"{self.base}/webhooks/sms/twilio"
        sender = f"{SMS_PREFIX}{(self.phone_base + i) % 10**7:07d}"
        params = [("MessageSid", "SM" + uuid.uuid4().hex), ("AccountSid", TWILIO_ACCOUNT_SID),
                  ("From", sender), ("To", HUB_NUMBER), ("Body", order_text(i)),
                  ("NumMedia", "0"), ("NumSegments", "1"), ("ApiVersion", TWILIO_API_VERSION)]
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": twilio_signature(TWILIO_AUTH_TOKEN, url, params)}
        done = Submitted(time.monotonic())
        for _ in range(ATTEMPTS):
            async with self.session.post(url, data=urlencode(params), headers=headers) as answer:
                await answer.read()
                done.answered, done.status = time.monotonic(), answer.status
                if answer.status != 503:
                    return done
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
        return done

    async def open_count(self) -> int:
        async with self.session.get(f"{self.base}/api/v1/requests",
                                    params={"limit": "2000"}) as answer:
            answer.raise_for_status()
            return len((await answer.json())["requests"])


async def create_open_requests(passengers: Passengers, count: int, sms_share: float,
                               concurrency: int = 16) -> tuple[int, int]:
    """`count` open requests, every 1/sms_share-th by SMS; returns (form, sms) made."""
    every = round(1 / sms_share) if sms_share > 0 else 0

    async def make(i: int) -> Submitted:
        if every and i % every == every - 1:
            return await passengers.sms(i)
        return await passengers.form(i)

    done = await closed_loop(count, concurrency, make)
    failed = [d.status for d in done if d.status not in (200, 201)]
    if failed:
        raise RuntimeError(f"{len(failed)} contacts were refused, e.g. {failed[0]}")
    sms = sum(1 for i in range(count) if every and i % every == every - 1)
    return count - sms, sms


async def closed_loop(count: int, concurrency: int,
                      make: Callable[[int], Awaitable[T]]) -> list[T]:
    """`count` calls, `concurrency` at a time, results in index order."""
    results: dict[int, T] = {}
    indexes = iter(range(count))

    async def worker() -> None:
        for i in indexes:
            results[i] = await make(i)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return [results[i] for i in range(count)]


async def open_loop(count: int, rate: float,
                    make: Callable[[int], Awaitable[T]]) -> list[T]:
    """`count` calls started `rate` per second, whatever the answers take."""
    began = time.monotonic()
    tasks: list[asyncio.Future[T]] = []
    for i in range(count):
        delay = began + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(make(i)))
    return list(await asyncio.gather(*tasks))
