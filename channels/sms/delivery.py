"""Delivery of an outbound SMS as every gateway reports it, folded into one small state.

The types live with the rest of the domain model (`hub.model.DeliveryState`,
`DeliveryUpdate`, `DELIVERY_RANK`); this module names them for the SMS parsers and says
how gateway states map onto them:

    QUEUED      the gateway has it but no carrier has yet (Twilio queued/accepted/
                scheduled/sending)
    SENT        a carrier accepted it; no word from the handset yet (Twilio sent; Vonage
                accepted/buffered/unknown; generic "sent")
    FAILED      it will not arrive: Twilio failed/undelivered/canceled, Vonage expired/
                failed/rejected, generic "failed"; `reason` says which, with the error code
    DELIVERED   the carrier or the handset confirmed it (Twilio delivered/read)

Status callbacks arrive out of order and are retried, so a stored state only moves up
`STATE_RANK`: a late 'sent' never overrides 'delivered' or 'failed', and a repeated report
changes nothing. DELIVERED outranks FAILED: a receipt is positive evidence (a retry that
got through), whereas a failure after it is a stale report arriving late.
"""

from __future__ import annotations

from hub.model import DELIVERY_RANK, DeliveryState, DeliveryUpdate

STATE_RANK = DELIVERY_RANK

__all__ = ["STATE_RANK", "DeliveryState", "DeliveryUpdate", "supersedes"]


def supersedes(new: DeliveryState, current: DeliveryState | None) -> bool:
    """Whether a report of `new` should replace the stored `current` state."""
    return current is None or STATE_RANK[new] > STATE_RANK[current]
