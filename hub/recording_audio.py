"""The audio of a recording a provider keeps (a Twilio `RecordingUrl`), fetched whole for a
passenger's export. The core says what it needs; a phone channel fetches it with the
operator's credentials, as the console's player does (`channels.registry.provider_audio`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Audio:
    """The provider's audio and the file suffix its type is kept under (".wav")."""

    data: bytes
    suffix: str


@dataclass(frozen=True, slots=True)
class AudioMissing:
    """Why the provider's audio could not be had ("provider answered 404 ...")."""

    why: str


class ProviderAudio(Protocol):
    """Fetches a provider's recording. Never raises for the provider's failings (gone,
    failing, slow, too large): it answers AudioMissing with the reason, so one lost file
    does not lose a passenger their export. Bounded in time and size."""

    async def fetch(self, location: str) -> Audio | AudioMissing:
        ...
