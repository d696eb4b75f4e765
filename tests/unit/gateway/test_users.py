import time

import jwt
import pytest

from tests.unit.gateway.conftest import SETTINGS, bearer, remote
from users.exceptions import InvalidCredentials, UserAlreadyExists

ADA = {"id": 7, "email": "ada@example.com", "name": "Ada", "role": "customer"}


def test_register_answers_201_with_the_user(client, rpc):
    rpc.on("users", "register_user", lambda **kw: {**ADA, "email": kw["email"]})
    response = client.post(
        "/api/v1/users", json={"email": "ada@example.com", "password": "s3cret-pw", "name": "Ada"}
    )
    assert response.status_code == 201
    assert response.json == ADA
    assert rpc.calls == [
        (
            "users",
            "register_user",
            (),
            {"email": "ada@example.com", "password": "s3cret-pw", "name": "Ada"},
        )
    ]


def test_register_names_each_invalid_field(client, rpc):
    response = client.post("/api/v1/users", json={"email": "nope", "password": "short"})
    assert response.status_code == 400
    assert response.json["error"] == "invalid_input"
    assert set(response.json["fields"]) == {"email", "password", "name"}
    assert rpc.calls == []


@pytest.mark.parametrize(
    "name",
    [
        "Ada\nSubject: pay now",  # a line break
        "Ada\r",
        "\u202egnp.exe",  # a right-to-left override, to disguise text
        "Ada\u200b",  # an invisible space
        "Ada\u2028Lovelace",  # a line separator
        "\x07bell",
        "x" * 101,
    ],
)
def test_register_wants_a_name_of_printable_text_on_one_line(client, rpc, name):
    body = {"email": "a@b.co", "password": "s3cret-pw", "name": name}
    response = client.post("/api/v1/users", json=body)
    assert response.status_code == 400
    assert list(response.json["fields"]) == ["name"]
    assert rpc.calls == []


@pytest.mark.parametrize(
    "name", ["Ada Lovelace", "José Ñúñez", "Zoë O'Brien-Smith", "میرزا\u200cعلی"]
)
def test_register_takes_names_in_any_script(client, rpc, name):
    rpc.on("users", "register_user", lambda **kw: {**ADA, "name": kw["name"]})
    body = {"email": "a@b.co", "password": "s3cret-pw", "name": name}
    assert client.post("/api/v1/users", json=body).status_code == 201


def test_register_does_not_let_a_client_choose_its_role(client, rpc):
    body = {"email": "a@b.co", "password": "s3cret-pw", "name": "A", "role": "admin"}
    response = client.post("/api/v1/users", json=body)
    assert response.status_code == 400
    assert response.json["fields"] == {"role": ["Unknown field."]}
    assert rpc.calls == []


def test_register_duplicate_is_409(client, rpc):
    def duplicate(**kw):
        raise remote(UserAlreadyExists("exists", {"email": ["Already registered."]}))

    rpc.on("users", "register_user", duplicate)
    response = client.post(
        "/api/v1/users", json={"email": "a@b.co", "password": "s3cret-pw", "name": "A"}
    )
    assert response.status_code == 409
    assert response.json == {
        "error": "user_exists",
        "message": "exists",
        "fields": {"email": ["Already registered."]},
    }


def test_token_is_a_jwt_naming_the_user_and_role(client, rpc):
    rpc.on("users", "authenticate", lambda email, password: ADA)
    response = client.post(
        "/api/v1/auth/token", json={"email": "ada@example.com", "password": "s3cret-pw"}
    )
    assert response.status_code == 200
    assert response.json["token_type"] == "bearer"
    assert response.json["expires_in"] == SETTINGS.jwt_ttl
    claims = jwt.decode(
        response.json["access_token"],
        SETTINGS.jwt_secret,
        algorithms=["HS256"],
        audience=SETTINGS.jwt_audience,
    )
    assert claims["sub"] == "7" and claims["role"] == "customer"


def test_wrong_credentials_are_401(client, rpc):
    def wrong(email, password):
        raise remote(InvalidCredentials("Wrong email or password"))

    rpc.on("users", "authenticate", wrong)
    response = client.post("/api/v1/auth/token", json={"email": "a@b.co", "password": "x"})
    assert response.status_code == 401
    assert response.json["error"] == "invalid_credentials"


def test_me_returns_the_profile_of_the_token_holder(client, rpc):
    rpc.on("users", "get_user", lambda user_id: {**ADA, "id": user_id})
    response = client.get("/api/v1/users/me", headers=bearer(user_id=7))
    assert response.status_code == 200
    assert response.json["id"] == 7


def _token(**overrides):
    now = int(time.time())
    claims = {
        "sub": "7",
        "role": "customer",
        "iat": now,
        "exp": now + 60,
        "iss": SETTINGS.jwt_issuer,
        "aud": SETTINGS.jwt_audience,
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, SETTINGS.jwt_secret, algorithm="HS256")


def test_me_refuses_missing_bad_expired_and_forged_tokens(client, rpc):
    rpc.on("users", "get_user", lambda user_id: ADA)
    unsigned = jwt.encode({"sub": "7", "role": "admin"}, None, algorithm="none")
    forged = jwt.encode(
        jwt.decode(_token(), options={"verify_signature": False}),
        "another-key-another-key-another-key!!",
        algorithm="HS256",
    )
    cases = {
        "missing": {},
        "not bearer": {"Authorization": "Basic abc"},
        "garbage": {"Authorization": "Bearer not.a.jwt"},
        "expired": {"Authorization": f"Bearer {_token(exp=int(time.time()) - 10)}"},
        "no exp": {"Authorization": f"Bearer {_token(exp=None)}"},
        "wrong audience": {"Authorization": f"Bearer {_token(aud='elsewhere')}"},
        "alg none": {"Authorization": f"Bearer {unsigned}"},
        "other key": {"Authorization": f"Bearer {forged}"},
    }
    for name, headers in cases.items():
        response = client.get("/api/v1/users/me", headers=headers)
        assert response.status_code == 401, name
        assert response.json["error"] == "unauthorized", name
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert rpc.calls == []
