"""What happened while the hub was not listening: after each login the AMI client asks
Asterisk which channels are up (`Action: CoreShowChannels`), and ends the stored calls that
are no longer among them.

Asterisk answers a list action with `Response: Success` / `EventList: start`, then one
`CoreShowChannel` event per channel (the channel snapshot with `Uniqueid` and `Linkedid`,
plus `Application`, `Duration`, `BridgeId`), then `CoreShowChannelsComplete` with
`EventList: Complete` and `ListItems`, every packet carrying the action's `ActionID`
(docs.asterisk.org, AMI Actions/CoreShowChannels). A call is still up while its caller's
channel is (the one whose Uniqueid is the Linkedid, channels.phone.ami_calls). A stored call
that is not, and that the hub last heard of before it asked, ended unseen: unanswered, it
is a missed call and becomes a callback request; answered, it is over (hub.calls).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from channels.phone.ami_protocol import Packet

ACTION = "CoreShowChannels"
ITEM = "CoreShowChannel"
COMPLETE = "CoreShowChannelsComplete"


@dataclass(slots=True)
class ChannelList:
    """One CoreShowChannels question and the calls its answer shows up."""

    action_id: str
    asked_at: datetime
    live: set[str] = field(default_factory=set)  # Linkedids whose caller's channel is up
    items: int = 0

    def feed(self, packet: Packet) -> str | None:
        """Take one packet of this action's answer: 'refused' (with Asterisk's reason in
        the packet), 'complete', or None while the list goes on."""
        if "Response" in packet:
            return None if packet["Response"] == "Success" else "refused"
        event = packet.get("Event")
        if event == ITEM:
            self.items += 1
            linked = packet.get("Linkedid", "")
            if linked and packet.get("Uniqueid") == linked:
                self.live.add(linked)
        elif event == COMPLETE:
            return "complete"
        return None
