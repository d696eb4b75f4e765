"""The parts of ``python -m chassis.deadletters`` that need no broker."""

import hashlib
from datetime import UTC, datetime

import pytest

from chassis import deadletters
from chassis.deadletters import Parked, choose, format_row, owner, preview, replay_properties, row

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
PARKED_HEADERS = {
    "x-original-queue": "evt-orders-order_confirmed--notifications.handle_order_confirmed",
    "x-event-type": "order_confirmed",
    "x-error": "RuntimeError: smtp down",
    "x-error-traceback": 'File "service.py", line 1',
    "x-attempts": 5,
    "x-last-error": "RuntimeError: smtp down",
    "x-failed-at": "2025-01-01T00:00:00+00:00",
    "x-death": [{"count": 4, "queue": "evt-...retry"}],
    "nameko.call_id_stack": ["orders.confirm_order.1"],
}


def parked(body=b'{"event_id": "e1"}', message_id="e1", **headers):
    properties = {
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "delivery_mode": 2,
        "application_headers": {**PARKED_HEADERS, **headers},
    }
    if message_id:
        properties["message_id"] = message_id
    return Parked(body, properties)


def test_a_message_is_known_by_its_message_id_else_by_its_body():
    assert parked().id == "e1"
    assert parked(b"\x00raw", message_id=None).id == (
        "sha256:" + hashlib.sha256(b"\x00raw").hexdigest()[:12]
    )


def test_an_id_chooses_every_copy_in_queue_order_and_unknown_ids_are_reported():
    messages = [parked(message_id=i) for i in ("a", "b", "a", "c")]
    chosen, missing = choose(messages, ["c", "a", "zz", "zz"])
    assert [m.id for m in chosen] == ["a", "a", "c"]
    assert chosen == [messages[0], messages[2], messages[3]]
    assert missing == ["zz"]


def test_no_ids_choose_them_all():
    messages = [parked(message_id=i) for i in ("a", "b")]
    assert choose(messages, None) == (messages, [])
    assert choose([], None) == ([], [])


def test_replaying_strips_the_parking_marks_and_keeps_the_rest():
    original = parked().properties
    properties = replay_properties(original, NOW)
    headers = properties.pop("application_headers")
    assert headers == {
        "x-original-queue": PARKED_HEADERS["x-original-queue"],
        "x-event-type": "order_confirmed",
        "x-death": PARKED_HEADERS["x-death"],
        "nameko.call_id_stack": ["orders.confirm_order.1"],
        "x-replayed-at": "2025-01-02T03:04:05+00:00",
    }
    assert properties == {
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "delivery_mode": 2,
        "message_id": "e1",
    }
    assert original["application_headers"]["x-attempts"] == 5  # the parked copy is untouched


def test_replaying_gives_back_a_missing_content_type():
    message = parked(**{"x-original-content-type": ""})
    message.properties["content_type"] = "application/octet-stream"
    properties = replay_properties(message.properties, NOW)
    assert "content_type" not in properties
    assert "x-original-content-type" not in properties["application_headers"]


def test_a_row_shows_what_an_operator_needs():
    assert row(parked()) == {
        "id": "e1",
        "event_type": "order_confirmed",
        "error": "RuntimeError: smtp down",
        "attempts": 5,
        "failed_at": "2025-01-01T00:00:00+00:00",
        "original_queue": PARKED_HEADERS["x-original-queue"],
        "content_type": "application/json",
        "size": 18,
        "preview": '{"event_id": "e1"}',
    }


def test_a_formatted_row_is_three_lines_and_tells_an_rpc_request_apart():
    fields = row(parked(**{"x-error": "boom\x1b[2J"}))
    fields["event_type"] = None
    assert format_row(fields).splitlines() == [
        "    e1  -  attempts 5  parked 2025-01-01T00:00:00+00:00",
        "      error: boom\\x1b[2J",
        '      body:  {"event_id": "e1"}',
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", ""),
        (b"{not json", "{not json"),
        (b"\x00\xff\x1b[31mred\nline", "\\x00\\xff\\x1b[31mred\\nline"),
        ("café ☕".encode(), "café ☕"),
        (b"x" * 200, "x" * 77 + "..."),
        ("é".encode() * 200, "é" * 77 + "..."),
    ],
    ids=["empty", "not-json", "binary-and-escapes", "utf-8", "long", "long-utf-8"],
)
def test_the_preview_is_printable_one_line_and_short(body, expected):
    shown = preview(body)
    assert shown == expected
    assert shown.isprintable() and len(shown) <= deadletters.PREVIEW_WIDTH


def test_the_owner_of_a_queue_is_read_from_its_name():
    assert owner("rpc-orders.dead") == "orders"
    assert owner("evt-orders-order_confirmed--notifications.handle_order_confirmed.dead") == (
        "notifications"
    )
    assert owner("something-else.dead") is None
