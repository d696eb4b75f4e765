"""Rate limits at the edge, counted in the app's memory (tests/integration has them in Redis)."""

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.app import create_app
from gateway.config import Settings
from gateway.idempotency import IdempotencyStore
from tests.unit.gateway.conftest import SETTINGS, bearer, remote
from users.exceptions import InvalidCredentials

ADA = {"id": 7, "email": "ada@example.com", "name": "Ada", "role": "customer"}
PASSWORD = "right-password"
ORDER_BODY = {"items": [{"product_id": 1, "quantity": 1}], "payment_token": "tok_visa"}
GENEROUS = "1000 per minute"


@pytest.fixture
def make_client(rpc, ready_rpc, fake_redis):
    """A test client whose settings are SETTINGS with ``overrides``."""

    def make(**overrides):
        settings = dataclasses.replace(SETTINGS, **overrides)
        store = IdempotencyStore(settings.redis_url, 60, wait=0.3, client=fake_redis)
        app = create_app(settings, rpc=rpc, ready_rpc=ready_rpc, idempotency=store)
        return app.test_client()

    return make


@pytest.fixture
def users(rpc):
    """Every email has the one right password."""

    def authenticate(email, password):
        if password != PASSWORD:
            raise remote(InvalidCredentials("Wrong email or password"))
        return {**ADA, "email": email.strip().lower()}

    rpc.on("users", "authenticate", authenticate)
    return rpc


@pytest.fixture
def orders(rpc):
    def create_order(user_id, items, payment_token, key):
        return {"id": f"order-{len(rpc.calls)}", "user_id": user_id, "status": "confirmed"}

    rpc.on("orders", "create_order", create_order)
    return rpc


def login(client, email, password=PASSWORD, ip="10.0.0.1", **kwargs):
    return client.post(
        "/api/v1/auth/token",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
        **kwargs,
    )


def place(client, user_id, **headers):
    return client.post("/api/v1/orders", json=ORDER_BODY, headers={**bearer(user_id), **headers})


def assert_rate_limited(response, message):
    assert response.status_code == 429
    assert response.json == {"error": "rate_limited", "message": message, "fields": {}}
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def authenticate_calls(rpc):
    return [call for call in rpc.calls if call[:2] == ("users", "authenticate")]


TOO_MANY_FAILED = "Too many failed logins for this email address: try again later"


def test_failed_logins_per_email_and_address_are_limited_then_even_the_right_password_waits(
    make_client, users
):
    client = make_client(
        rate_limit_failed_logins_per_email_and_ip="3 per minute",
        rate_limit_failed_logins_per_email=GENEROUS,
        rate_limit_logins_per_ip=GENEROUS,
    )
    for _ in range(3):
        assert login(client, "ada@example.com", "guess").status_code == 401
    # The same address however it is written.
    assert_rate_limited(login(client, "  ADA@Example.com "), TOO_MANY_FAILED)
    assert len(authenticate_calls(users)) == 3  # refused before a password was checked
    # The guesser locked out itself only: Ada, elsewhere, still logs in.
    assert login(client, "ada@example.com", ip="10.0.0.2").status_code == 200
    assert login(client, "grace@example.com").status_code == 200  # another account is free


def test_failed_logins_per_email_from_everywhere_meet_a_ceiling(make_client, users):
    client = make_client(
        rate_limit_failed_logins_per_email_and_ip=GENEROUS,
        rate_limit_failed_logins_per_email="4 per minute",
        rate_limit_logins_per_ip=GENEROUS,
    )
    for n in range(4):
        assert login(client, "ada@example.com", "guess", ip=f"10.0.1.{n}").status_code == 401
    assert_rate_limited(login(client, "ada@example.com", ip="10.0.1.9"), TOO_MANY_FAILED)


def test_successful_logins_do_not_count_against_the_email(make_client, users):
    client = make_client(
        rate_limit_failed_logins_per_email_and_ip="2 per minute", rate_limit_logins_per_ip=GENEROUS
    )
    for _ in range(6):
        assert login(client, "ada@example.com").status_code == 200
    assert login(client, "ada@example.com", "guess").status_code == 401
    assert login(client, "ada@example.com").status_code == 200


def test_an_attempt_that_checked_no_password_is_given_back(make_client, rpc):
    answers = [ConnectionRefusedError(), {**ADA}]

    def authenticate(email, password):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    rpc.on("users", "authenticate", authenticate)
    client = make_client(
        rate_limit_failed_logins_per_email_and_ip="1 per minute", rate_limit_logins_per_ip=GENEROUS
    )
    assert login(client, "ada@example.com").status_code == 503  # users unreachable
    assert login(client, "ada@example.com").status_code == 200  # that one was not counted


def test_malformed_logins_do_not_count_against_an_email(make_client, users):
    client = make_client(
        rate_limit_failed_logins_per_email_and_ip="1 per minute", rate_limit_logins_per_ip=GENEROUS
    )
    for body in ({"email": "ada@example.com"}, {"password": "x"}, {"email": 5}, ["x"]):
        response = client.post("/api/v1/auth/token", json=body)
        assert response.status_code == 400, body
    assert login(client, "ada@example.com", "guess").status_code == 401
    assert login(client, "ada@example.com", "guess").status_code == 429


def test_parallel_guesses_get_at_most_the_limit_of_401s(make_client, users):
    client = make_client(
        rate_limit_failed_logins_per_email_and_ip="5 per minute", rate_limit_logins_per_ip=GENEROUS
    )
    start = threading.Barrier(12)

    def guess(_):
        start.wait()
        return login(client, "ada@example.com", "guess").status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = sorted(pool.map(guess, range(12)))
    assert answers == [401] * 5 + [429] * 7


def test_sign_ups_per_client_address_count_every_attempt(make_client, rpc):
    rpc.on("users", "register_user", lambda **kw: {**ADA, "email": kw["email"]})
    client = make_client(rate_limit_signups_per_ip="2 per minute")

    def sign_up(n, ip="10.0.0.1"):
        body = {"email": f"u{n}@example.com", "password": "pw-123456", "name": "U"}
        return client.post("/api/v1/users", json=body, environ_base={"REMOTE_ADDR": ip})

    assert sign_up(1).status_code == 201
    invalid = client.post("/api/v1/users", json={}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert invalid.status_code == 400  # counts too
    assert_rate_limited(sign_up(2), "Too many sign-ups from this address: try again later")
    assert sign_up(3, ip="10.0.0.2").status_code == 201


def test_logins_per_client_address_count_every_attempt(make_client, users):
    client = make_client(
        rate_limit_logins_per_ip="3 per minute",
        rate_limit_failed_logins_per_email_and_ip=GENEROUS,
        rate_limit_failed_logins_per_email=GENEROUS,
    )
    assert login(client, "a@example.com").status_code == 200
    assert login(client, "b@example.com", "guess").status_code == 401
    assert login(client, "c@example.com").status_code == 200
    assert_rate_limited(
        login(client, "d@example.com"), "Too many logins from this address: try again later"
    )
    assert login(client, "d@example.com", ip="10.0.0.9").status_code == 200


def test_orders_per_user_are_limited_by_the_tokens_subject(make_client, orders):
    client = make_client(rate_limit_orders_per_user="2 per minute")
    assert place(client, 1).status_code == 201
    assert place(client, 1).status_code == 201
    assert_rate_limited(place(client, 1), "Too many orders placed: try again later")
    assert len(orders.calls) == 2
    assert place(client, 2).status_code == 201  # another user, same client address


def test_refusals_and_replays_do_not_count_against_the_user(make_client, orders):
    client = make_client(rate_limit_orders_per_user="2 per minute")
    healthy = orders.handlers[("orders", "create_order")]

    def down(*args):
        raise ConnectionRefusedError()

    orders.on("orders", "create_order", down)
    for _ in range(3):
        assert place(client, 1).status_code == 503
        bad = client.post("/api/v1/orders", json={"items": []}, headers=bearer(1))
        assert bad.status_code == 400
    orders.on("orders", "create_order", healthy)
    first = place(client, 1, **{"Idempotency-Key": "k-1"})
    for _ in range(3):
        replay = place(client, 1, **{"Idempotency-Key": "k-1"})
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.get_data() == first.get_data()
    assert place(client, 1).status_code == 201  # the second counted order
    assert place(client, 1).status_code == 429


def test_an_order_without_a_valid_token_is_still_401(make_client, orders):
    client = make_client(rate_limit_orders_per_user="1 per minute")
    assert client.post("/api/v1/orders", json=ORDER_BODY).status_code == 401
    assert client.post("/api/v1/orders", json=ORDER_BODY).status_code == 401
    assert place(client, 1).status_code == 201
    assert orders.calls[0][2][0] == 1


def test_the_default_limit_covers_every_route_but_the_operators(make_client, rpc):
    rpc.on("products", "get_product", lambda product_id: {"id": product_id})
    client = make_client(rate_limit_default_per_ip="2 per minute")
    for _ in range(5):
        assert client.get("/health").status_code == 200
    assert client.get("/api/v1/products/1").status_code == 200
    assert client.get("/api/v1/products/2").status_code == 200
    assert_rate_limited(
        client.get("/api/v1/products/3"),
        "Too many requests from this address: try again later",
    )
    other = client.get("/api/v1/products/3", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200


def test_the_default_limit_also_applies_to_the_limited_routes(make_client, users):
    client = make_client(rate_limit_default_per_ip="1 per minute")
    assert login(client, "ada@example.com").status_code == 200
    assert login(client, "ada@example.com").status_code == 429


def test_an_empty_limit_or_limits_turned_off_limit_nothing(make_client, users, orders):
    for client in (
        make_client(
            rate_limit_failed_logins_per_email_and_ip="",
            rate_limit_failed_logins_per_email="",
            rate_limit_orders_per_user="",
        ),
        make_client(
            rate_limit_enabled=False,
            rate_limit_failed_logins_per_email_and_ip="1 per minute",
            rate_limit_failed_logins_per_email="1 per minute",
            rate_limit_orders_per_user="1 per minute",
        ),
    ):
        for _ in range(4):
            assert login(client, "ada@example.com", "guess").status_code == 401
            assert place(client, 1).status_code == 201


def test_the_client_address_comes_from_x_forwarded_for_only_behind_trusted_proxies(
    make_client, users
):
    direct = make_client(rate_limit_logins_per_ip="1 per minute")
    assert login(direct, "a@example.com", headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 200
    spoofed = login(direct, "a@example.com", headers={"X-Forwarded-For": "2.2.2.2"})
    assert spoofed.status_code == 429  # the header alone does not make a new client

    proxied = make_client(rate_limit_logins_per_ip="1 per minute", trusted_proxy_hops=1)
    for client_ip in ("1.1.1.1", "2.2.2.2"):
        response = login(proxied, "a@example.com", headers={"X-Forwarded-For": client_ip})
        assert response.status_code == 200
    again = login(proxied, "a@example.com", headers={"X-Forwarded-For": "2.2.2.2"})
    assert again.status_code == 429


LIMIT_VARIABLES = {
    "RATE_LIMIT_FAILED_LOGINS_PER_EMAIL_AND_IP": "rate_limit_failed_logins_per_email_and_ip",
    "RATE_LIMIT_FAILED_LOGINS_PER_EMAIL": "rate_limit_failed_logins_per_email",
    "RATE_LIMIT_SIGNUPS_PER_IP": "rate_limit_signups_per_ip",
    "RATE_LIMIT_LOGINS_PER_IP": "rate_limit_logins_per_ip",
    "RATE_LIMIT_ORDERS_PER_USER": "rate_limit_orders_per_user",
    "RATE_LIMIT_DEFAULT_PER_IP": "rate_limit_default_per_ip",
}


def test_the_environment_sets_each_limit(monkeypatch):
    for variable in LIMIT_VARIABLES:
        monkeypatch.setenv(variable, f"{len(variable)} per hour")
    monkeypatch.setenv("RATE_LIMIT_STORAGE_URL", "redis://limits.example:6379/5")
    monkeypatch.setenv("RATE_LIMIT_STRATEGY", "fixed-window")
    monkeypatch.setenv("RATE_LIMIT_ENABLED", "false")
    monkeypatch.setenv("TRUSTED_PROXY_HOPS", "2")
    settings = Settings.from_env()
    for variable, name in LIMIT_VARIABLES.items():
        assert getattr(settings, name) == f"{len(variable)} per hour"
    assert settings.rate_limit_storage_url == "redis://limits.example:6379/5"
    assert settings.rate_limit_strategy == "fixed-window"
    assert settings.rate_limit_enabled is False
    assert settings.trusted_proxy_hops == 2


def test_the_defaults_leave_ordinary_use_alone(monkeypatch):
    for variable in [*LIMIT_VARIABLES, "RATE_LIMIT_STORAGE_URL", "RATE_LIMIT_ENABLED"]:
        monkeypatch.delenv(variable, raising=False)
    settings = Settings.from_env()
    assert settings.rate_limit_enabled is True
    assert settings.rate_limit_storage_url == ""  # the gateway's REDIS_URL
    assert settings.rate_limit_failed_logins_per_email_and_ip == "5 per minute"
    assert settings.rate_limit_failed_logins_per_email == "100 per hour"
    assert settings.rate_limit_signups_per_ip == "20 per minute; 100 per hour"
    assert settings.rate_limit_logins_per_ip == "300 per minute"
    assert settings.rate_limit_orders_per_user == "120 per minute"
    assert settings.rate_limit_default_per_ip == ""


def test_an_app_made_from_the_environment_applies_its_limits(monkeypatch, rpc, users):
    monkeypatch.setenv("RATE_LIMIT_STORAGE_URL", "memory://")
    monkeypatch.setenv("RATE_LIMIT_FAILED_LOGINS_PER_EMAIL_AND_IP", "1 per minute")
    monkeypatch.setenv("JWT_SECRET", SETTINGS.jwt_secret)
    client = create_app(rpc=rpc, ready_rpc=rpc).test_client()
    assert login(client, "ada@example.com", "guess").status_code == 401
    assert login(client, "ada@example.com", "guess").status_code == 429


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RATE_LIMIT_ORDERS_PER_USER", "lots"),
        ("RATE_LIMIT_FAILED_LOGINS_PER_EMAIL", "5 per fortnight"),
        ("RATE_LIMIT_DEFAULT_PER_IP", "-1 per minute"),
    ],
)
def test_a_malformed_limit_stops_the_start_naming_its_variable(monkeypatch, rpc, variable, value):
    monkeypatch.setenv("RATE_LIMIT_STORAGE_URL", "memory://")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        create_app(rpc=rpc, ready_rpc=rpc)


def test_a_malformed_switch_stops_the_start(monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_ENABLED", "maybe")
    with pytest.raises(ValueError, match="RATE_LIMIT_ENABLED"):
        Settings.from_env()
