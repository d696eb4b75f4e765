import hashlib
import json

import pytest
from nameko.exceptions import RpcTimeout

from chassis.contracts.errors import UnknownProduct
from gateway.idempotency import CLAIM_TTL, fingerprint
from tests.unit.gateway.conftest import SETTINGS, bearer, remote
from tests.unit.gateway.test_orders import BODY, ITEMS, order


def post(client, key, body=BODY, user_id=1, **kwargs):
    headers = {**bearer(user_id=user_id), "Idempotency-Key": key}
    return client.post("/api/v1/orders", json=body, headers=headers, **kwargs)


def redis_key(user_id, key):
    return f"idem:v1:{user_id}:{hashlib.sha256(key.encode()).hexdigest()}"


@pytest.fixture
def orders(rpc):
    """create_order answering a new pending order on each call."""
    made = []

    def create_order(user_id, items, payment_token, idempotency_key):
        made.append(idempotency_key)
        return order("pending", user_id, order_id=f"{len(made):08x}")

    rpc.on("orders", "create_order", create_order)
    return made


def test_the_key_goes_to_the_service_and_a_retry_replays_the_first_answer(client, orders):
    first = post(client, "k-1")
    assert first.status_code == 202
    assert "Idempotent-Replayed" not in first.headers
    again = post(client, "k-1")
    assert again.status_code == 202
    assert again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"] == "/api/v1/orders/00000001"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Content-Type"] == "application/json"
    assert orders == ["k-1"]


def test_the_answer_is_kept_for_the_configured_time(client, orders, fake_redis):
    post(client, "k-ttl")
    name = redis_key(1, "k-ttl")
    record = json.loads(fake_redis.data[name])
    assert record["state"] == "done" and record["status"] == 202
    assert record["headers"] == {"Location": "/api/v1/orders/00000001"}
    assert fake_redis.expiry[name] == SETTINGS.idempotency_ttl


def test_the_same_body_in_another_key_order_is_the_same_request(client, orders):
    post(client, "k-2", body={"items": ITEMS, "payment_token": "tok_visa"})
    again = post(client, "k-2", body={"payment_token": "tok_visa", "items": ITEMS})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(orders) == 1


def test_a_key_reused_for_another_request_is_422_naming_the_header(client, orders):
    post(client, "k-3")
    other = post(client, "k-3", body={**BODY, "payment_token": "tok_other"})
    assert other.status_code == 422
    assert other.json["error"] == "idempotency_key_reused"
    assert list(other.json["fields"]) == ["Idempotency-Key"]
    assert len(orders) == 1


def test_keys_belong_to_one_user(client, orders):
    assert post(client, "k-4", user_id=1).status_code == 202
    theirs = post(client, "k-4", user_id=2)
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json["user_id"] == 2
    assert len(orders) == 2


def test_without_a_key_every_request_is_new_and_gets_a_key_of_its_own(client, orders, fake_redis):
    client.post("/api/v1/orders", json=BODY, headers=bearer())
    client.post("/api/v1/orders", json=BODY, headers=bearer())
    # orders dedupes a redelivered request by it; nothing is remembered at the gateway.
    assert [key.startswith("gateway:") for key in orders] == [True, True]
    assert len(set(orders)) == 2
    assert fake_redis.data == {}


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "é"])
def test_a_malformed_key_is_400_naming_the_header(client, rpc, key):
    headers = {**bearer(), "Idempotency-Key": key}
    response = client.post("/api/v1/orders", json=BODY, headers=headers)
    assert response.status_code == 400
    assert list(response.json["fields"]) == ["Idempotency-Key"]
    assert rpc.calls == []


def test_the_longest_key_allowed_is_used(client, orders):
    key = "~" * 255
    assert post(client, key).status_code == 202
    assert orders == [key]


def in_turn(*answers):
    """A create_order that answers (or raises) each of ``answers`` in turn."""
    left = list(answers)

    def create(*args):
        answer = left.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return create


def test_refusals_are_not_kept_so_the_corrected_request_may_use_the_key(client, rpc, fake_redis):
    unknown = remote(UnknownProduct("Unknown product", {"items": {"1": ["Unknown."]}}))
    rpc.on("orders", "create_order", in_turn(unknown, order("confirmed")))
    assert post(client, "k-5").status_code == 422
    assert redis_key(1, "k-5") not in fake_redis.data
    again = post(client, "k-5")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert len(rpc.calls) == 2


def test_an_invalid_body_neither_claims_nor_burns_the_key(client, rpc, fake_redis):
    rpc.on("orders", "create_order", lambda *args: order("confirmed"))
    invalid = post(client, "k-6", body={"items": []})
    assert invalid.status_code == 400
    assert redis_key(1, "k-6") not in fake_redis.data
    assert rpc.calls == []
    corrected = post(client, "k-6")
    assert corrected.status_code == 201 and "Idempotent-Replayed" not in corrected.headers
    assert post(client, "k-6").headers["Idempotent-Replayed"] == "true"


def test_server_errors_are_forgotten_so_the_client_can_retry(client, rpc, fake_redis):
    rpc.on(
        "orders", "create_order", in_turn(RpcTimeout(5), RuntimeError("boom"), order("confirmed"))
    )
    assert post(client, "k-7").status_code == 504
    assert redis_key(1, "k-7") not in fake_redis.data
    assert post(client, "k-7").status_code == 500
    done = post(client, "k-7")
    assert done.status_code == 201 and "Idempotent-Replayed" not in done.headers
    assert [call[2][3] for call in rpc.calls] == ["k-7", "k-7", "k-7"]
    assert post(client, "k-7").headers["Idempotent-Replayed"] == "true"


def test_a_retry_while_the_first_runs_waits_then_answers_409(app, client, orders, fake_redis):
    with app.test_request_context("/api/v1/orders", method="POST", json=BODY):
        claim = {"state": "in_progress", "fingerprint": fingerprint()}
    fake_redis.set(redis_key(1, "k-8"), json.dumps(claim), ex=CLAIM_TTL)
    response = post(client, "k-8")
    assert response.status_code == 409
    assert response.json["error"] == "request_in_progress"
    assert response.headers["Retry-After"] == "1"
    assert orders == []


def test_the_first_request_claims_its_key_for_a_bounded_time(client, rpc, fake_redis):
    seen = {}

    def create_order(*args):
        name = redis_key(1, "k-9")
        seen["claim"] = json.loads(fake_redis.data[name])
        seen["ex"] = fake_redis.expiry[name]
        return order()

    rpc.on("orders", "create_order", create_order)
    post(client, "k-9")
    assert seen["claim"]["state"] == "in_progress"
    assert seen["ex"] == CLAIM_TTL


def test_without_redis_the_request_is_answered_all_the_same(client, orders, fake_redis, caplog):
    fake_redis.down = True
    first = post(client, "k-10")
    second = post(client, "k-10")
    assert first.status_code == second.status_code == 202
    # The service keeps its own key: it is the one that refuses a second order.
    assert orders == ["k-10", "k-10"]
    assert "idempotency store unavailable" in caplog.text


def test_an_unreadable_record_is_ignored(client, orders, fake_redis):
    fake_redis.data[redis_key(1, "k-11")] = "not json"
    assert post(client, "k-11").status_code == 202
    assert orders == ["k-11"]


def test_an_oversized_body_is_413_and_not_kept(client, orders, fake_redis):
    big = {**BODY, "payment_token": "x" * 100_000}
    response = post(client, "k-12", body=big)
    assert response.status_code == 413
    assert fake_redis.data == {}
    assert orders == []
