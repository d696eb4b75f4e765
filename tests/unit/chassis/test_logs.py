import json
import logging
import sys

from chassis.logs import (
    JsonFormatter,
    bind_request_id,
    reset_request_id,
    valid_request_id,
)


def record(message="placed %s", args=("x",), exc_info=None):
    return logging.LogRecord("orders.saga", logging.INFO, __file__, 1, message, args, exc_info)


def test_a_line_is_one_json_object_with_the_bound_request_id():
    formatter = JsonFormatter(service="orders")
    line = json.loads(formatter.format(record()))
    assert set(line) == {"ts", "level", "service", "logger", "message"}
    assert (line["service"], line["level"], line["message"]) == ("orders", "INFO", "placed x")
    token = bind_request_id("req-42")
    try:
        assert json.loads(formatter.format(record()))["request_id"] == "req-42"
    finally:
        reset_request_id(token)
    assert "request_id" not in json.loads(formatter.format(record()))


def test_an_exception_travels_inside_the_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        line = JsonFormatter().format(record("failed", (), sys.exc_info()))
    assert "\n" not in line
    assert "RuntimeError: boom" in json.loads(line)["error"]


def test_only_plain_ids_are_taken_from_outside():
    assert valid_request_id("3f2a-req_1.2:x") == "3f2a-req_1.2:x"
    for bad in (None, "", "a b", "x" * 129, "id\nforged log line", "é"):
        assert valid_request_id(bad) is None
