"""Asterisk's recordings and voice messages, followed in its AMI events (pure: no files).

`MixMonitor()` names its file in the channel variable `MIXMONITOR_FILENAME` (a `VarSet`
event, the absolute path Asterisk actually writes to). `StopMixMonitor` closes the file
before its `MixMonitorStop` event (Asterisk 18+); a recording the channel's `Hangup` ends is
closed by MixMonitor's own thread a moment later, so that file is not `settled` yet.
`VoiceMail()` names the message it records in `VM_MESSAGEFILE` (without a suffix: one file
per configured format); the message is complete when `VMSTATUS` is set (`FAILED`: none was
left) or the channel hangs up. (docs.asterisk.org: MixMonitor(), AMI Events/MixMonitorStop
and VarSet, VoiceMail channel variables.) Each belongs to the call of the channel's
`Linkedid`, and is done at the event's `Timestamp` (manager.conf timestampevents=yes), else
when the hub hears of it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from channels.phone.ami_calls import event_time
from channels.phone.ami_protocol import Packet

RECORDING, VOICEMAIL = "recording", "voicemail"
VARIABLES = {"MIXMONITOR_FILENAME": RECORDING, "VM_MESSAGEFILE": VOICEMAIL}
MAX_PENDING = 10_000  # recordings under way at once; a lost Hangup must not grow this forever


@dataclass(frozen=True, slots=True)
class SpoolFile:
    """A finished recording or voice message: where Asterisk wrote it, for which call."""

    call_key: str
    pbx_path: str
    kind: str
    completed_at: datetime
    settled: bool = True  # False: the file may still be being closed


class AmiRecordings:
    """Follows the files being recorded; `translate` is called with every event in order."""

    def __init__(self) -> None:
        self._pending: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()

    def __repr__(self) -> str:
        return f"<AmiRecordings recording={len(self._pending)}>"

    def translate(self, packet: Packet, now: datetime) -> list[SpoolFile]:
        """The recordings this event finishes."""
        name, channel = packet.get("Event", ""), packet.get("Uniqueid", "")
        if not channel:
            return []
        if name == "VarSet":
            variable, value = packet.get("Variable", ""), packet.get("Value", "").strip()
            kind = VARIABLES.get(variable)
            if kind is not None and value and packet.get("Linkedid"):
                self._pending[(channel, kind)] = (packet["Linkedid"], value)
                while len(self._pending) > MAX_PENDING:
                    self._pending.popitem(last=False)
                return []
            if variable == "VMSTATUS":
                return self._finish(channel, VOICEMAIL, packet, now,
                                    left=value.upper() != "FAILED")
            return []
        if name == "MixMonitorStop":
            return self._finish(channel, RECORDING, packet, now)
        if name == "Hangup":
            return [*self._finish(channel, RECORDING, packet, now, settled=False),
                    *self._finish(channel, VOICEMAIL, packet, now)]
        return []

    def _finish(self, channel: str, kind: str, packet: Packet, now: datetime, *,
                left: bool = True, settled: bool = True) -> list[SpoolFile]:
        pending = self._pending.pop((channel, kind), None)
        if pending is None or not left:
            return []
        call_key, path = pending
        return [SpoolFile(call_key, path, kind, event_time(packet) or now, settled)]
