import re


def test_a_usable_request_id_is_echoed(client, ready_rpc):
    response = client.get("/health", headers={"X-Request-ID": "client-chosen-1"})
    assert response.headers["X-Request-ID"] == "client-chosen-1"


def test_a_missing_or_unusable_one_is_replaced(client):
    for headers in ({}, {"X-Request-ID": "two words"}, {"X-Request-ID": "x" * 200}):
        made = client.get("/health", headers=headers).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)


def test_every_rpc_call_of_a_request_runs_under_its_id(client, rpc):
    from chassis.logs import current_request_id

    rpc.on(
        "products",
        "get_product",
        lambda product_id: {"id": product_id, "seen": current_request_id()},
    )
    response = client.get("/api/v1/products/7", headers={"X-Request-ID": "req-7"})
    assert response.json["seen"] == "req-7"
    assert response.headers["X-Request-ID"] == "req-7"


def test_the_access_line_carries_the_echoed_id_as_a_field():
    import json
    import logging

    from gunicorn.glogging import SafeAtoms

    from chassis.logs import JsonFormatter
    from gateway.request_id import AccessLogRequestId

    def access_line(answer_headers):
        # what gunicorn's access logger hands its handlers: the atoms as the record's args
        atoms = SafeAtoms({"s": "201", **{f"{{{k.lower()}}}o": v for k, v in answer_headers}})
        record = logging.LogRecord(
            "gunicorn.access", logging.INFO, __file__, 1, "%(s)s", (atoms,), None
        )
        assert AccessLogRequestId().filter(record)
        return json.loads(JsonFormatter(service="gateway").format(record))

    line = access_line([("Content-Type", "application/json"), ("X-Request-ID", "req-9")])
    assert (line["message"], line["request_id"]) == ("201", "req-9")
    assert "request_id" not in access_line([("Content-Type", "application/json")])
