from tests.unit.gateway.conftest import bearer

NOTE = {
    "id": 3,
    "user_id": 7,
    "kind": "order_confirmed",
    "subject": "Your order is confirmed",
    "body": "…",
    "created_at": "2024-05-01T10:00:00+00:00",
}


def test_list_is_the_callers_own_page(client, rpc):
    rpc.on(
        "notifications",
        "list_notifications",
        lambda user_id, offset, limit: {
            "items": [NOTE],
            "total": 1,
            "offset": offset,
            "limit": limit,
        },
    )
    response = client.get("/api/v1/notifications?offset=0&limit=10", headers=bearer(user_id=7))
    assert response.status_code == 200
    assert response.json == {"items": [NOTE], "total": 1, "offset": 0, "limit": 10}
    assert rpc.calls == [("notifications", "list_notifications", (7, 0, 10), {})]


def test_list_needs_a_token_and_a_sane_page(client, rpc):
    assert client.get("/api/v1/notifications").status_code == 401
    response = client.get("/api/v1/notifications?offset=-1&colour=red", headers=bearer())
    assert response.status_code == 400
    assert set(response.json["fields"]) == {"offset", "colour"}
    assert rpc.calls == []
