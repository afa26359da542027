"""The read models' TypedDicts (hub.read_json, what code reads by key) and the records
(hub.records, what the schemas and the contract tests check the JSON against) name the
same keys: a key added to one and not the other fails here."""

from __future__ import annotations

import msgspec
import pytest

from hub import read_json, records
from hub.model import NoticeJson, NoticeTextJson

# Nothing here touches the stores: the PostgreSQL pass would only repeat it.
pytestmark = pytest.mark.store_independent

PAIRS = [
    (read_json.AgentRefJson, records.AgentRef),
    (read_json.ContactRefJson, records.ContactRef),
    (read_json.OfferJson, records.Offer),
    (read_json.TimingsJson, records.Timings),
    (read_json.RequestSummaryJson, records.RequestSummary),
    (read_json.DeliveryJson, records.Delivery),
    (read_json.MessageJson, records.Message),
    (read_json.HistoryEntryJson, records.HistoryEntry),
    (read_json.CallJson, records.Call),
    (read_json.RecordingJson, records.Recording),
    (read_json.RequestDetailJson, records.RequestDetail),
    (NoticeJson, records.Notice),
    (NoticeTextJson, records.NoticeText),
]


@pytest.mark.parametrize(("typed", "record"), PAIRS, ids=[r.__name__ for _, r in PAIRS])
def test_the_typed_dict_names_the_records_keys(typed: type, record: type[msgspec.Struct]
                                               ) -> None:
    keys = typed.__required_keys__ | typed.__optional_keys__
    assert sorted(keys) == sorted(record.__struct_fields__)
