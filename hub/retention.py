"""How long each class of data is kept: the `[retention]` settings and their bounds.

The register the product answers to says recordings and voice messages are kept for a period
the customer chooses between 1 day and 36 months; every other class has a default a Finnish
taxi company would expect and a range documented in config.example.toml. A value outside its
range stops start-up with the range in the message, so a typo never deletes a year of data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hub.errors import OperatorMustAct

MONTHS_36 = 1095  # 36 months in days, the register's upper bound for recordings

# (lowest, highest) days per class. The audit's floor keeps an operator from wiping the
# record of their own actions by configuration; the others may go down to one day.
BOUNDS: dict[str, tuple[int, int]] = {
    "recordings_days": (1, MONTHS_36),
    "messages_days": (1, MONTHS_36),
    "calls_days": (1, MONTHS_36),
    "attachments_days": (1, MONTHS_36),
    "deliveries_days": (1, MONTHS_36),
    "handling_days": (1, 3650),
    "audit_days": (180, 3650),
}
INTERVAL_BOUNDS_S = (1.0, 86_400.0)  # or 0: no scheduled purge
BATCH_BOUNDS = (10, 10_000)


@dataclass(frozen=True)
class RetentionSettings:
    # Recordings and voice messages (rows, transcriptions, listens, local audio files).
    # Three months: complaints and lost-property questions come within weeks of a ride.
    recordings_days: int = 90
    # Passenger personal data: message texts, names, numbers and addresses, the request's
    # preview and personal details, the passenger record itself. A year covers complaints,
    # invoice disputes and a case before the Consumer Disputes Board.
    messages_days: int = 365
    calls_days: int = 365  # the caller's and called numbers on a call (timings are kept)
    attachments_days: int = 90  # files mailed in, under data_dir/attachments
    deliveries_days: int = 90  # per-recipient delivery rows (recipient numbers, addresses)
    # Handling events (who claimed, replied, transferred, resolved): the dispatchers' work
    # record, two years as for labour and complaint questions. Notes go with the messages.
    handling_days: int = 730
    audit_days: int = 730  # security record of access to personal data: two years
    purge_interval_s: float = 3600.0  # how often the hub purges; 0: only `taxiconnect purge`
    batch_size: int = 500  # rows per short write transaction
    # The moment the purge takes as "now" (ISO 8601 with a zone); empty: the real time.
    # For rehearsing a purge ahead of time with `--dry-run`; never leave it set.
    as_of: str = ""

    def __post_init__(self) -> None:
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise OperatorMustAct(
                    f"configuration retention.{name} = {value}: must be between {low} and "
                    f"{high} days")
        low_s, high_s = INTERVAL_BOUNDS_S
        if self.purge_interval_s != 0 and not low_s <= self.purge_interval_s <= high_s:
            raise OperatorMustAct(
                f"configuration retention.purge_interval_s = {self.purge_interval_s}: must be "
                f"0 (no scheduled purge) or between {low_s:g} and {high_s:g} seconds")
        if not BATCH_BOUNDS[0] <= self.batch_size <= BATCH_BOUNDS[1]:
            raise OperatorMustAct(
                f"configuration retention.batch_size = {self.batch_size}: must be between "
                f"{BATCH_BOUNDS[0]} and {BATCH_BOUNDS[1]}")
        if self.as_of:
            self.reference_time()

    def reference_time(self, now: datetime | None = None) -> datetime:
        """`as_of` when set, else `now` (the real time when not given)."""
        if not self.as_of:
            return now or datetime.now(UTC)
        try:
            found = datetime.fromisoformat(self.as_of)
        except ValueError as exc:
            raise OperatorMustAct(
                f"configuration retention.as_of = {self.as_of!r}: not an ISO 8601 time") from exc
        if found.tzinfo is None:
            raise OperatorMustAct(
                f"configuration retention.as_of = {self.as_of!r}: give a zone, e.g. +02:00")
        return found.astimezone(UTC)

    def cutoff(self, name: str, now: datetime) -> datetime:
        """Data of class `name` (`messages`, ...) older than this is due."""
        days: int = getattr(self, f"{name}_days")
        return now - timedelta(days=days)

    @property
    def stream_days(self) -> int:
        """The Redis streams carry previews, names, numbers and addresses of requests,
        calls, recordings and deliveries: they keep what the shortest of those keeps."""
        return min(self.messages_days, self.calls_days, self.recordings_days,
                   self.deliveries_days)
