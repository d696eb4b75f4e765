import pytest

from tests.unit.gateway.conftest import bearer

REPORT = {"items": [{"day": "2024-05-01", "product_id": 1, "units": 3, "revenue_cents": 2700}]}


def test_sales_report_for_an_admin(client, rpc):
    rpc.on("orders", "sales_report", lambda date_from, date_to: REPORT)
    response = client.get(
        "/api/v1/admin/sales?from=2024-05-01&to=2024-05-31", headers=bearer(role="admin")
    )
    assert response.status_code == 200
    assert response.json == REPORT
    assert rpc.calls == [("orders", "sales_report", ("2024-05-01", "2024-05-31"), {})]


def test_sales_are_for_admins_only(client, rpc):
    url = "/api/v1/admin/sales?from=2024-05-01&to=2024-05-31"
    assert client.get(url).status_code == 401
    forbidden = client.get(url, headers=bearer(role="customer"))
    assert forbidden.status_code == 403
    assert forbidden.json["error"] == "forbidden"
    assert rpc.calls == []


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("", {"from", "to"}),
        ("from=2024-05-01", {"to"}),
        ("to=2024-05-01", {"from"}),
        ("from=2024-13-01&to=2024-12-31", {"from"}),
        ("from=yesterday&to=2024-12-31", {"from"}),
        ("from=2024-05-01&to=2024-05-01T10:00:00", {"to"}),
        ("from=2024-05-02&to=2024-05-01", {"to"}),
        ("from=2023-01-01&to=2024-01-02", {"to"}),  # 367 days
        ("from=2024-05-01&to=2024-05-02&by=day", {"by"}),
    ],
)
def test_a_bad_period_is_400_naming_the_field(client, rpc, query, fields):
    response = client.get(f"/api/v1/admin/sales?{query}", headers=bearer(role="admin"))
    assert response.status_code == 400
    assert response.json["error"] == "invalid_input"
    assert set(response.json["fields"]) == fields
    assert rpc.calls == []


@pytest.mark.parametrize(
    ("date_from", "date_to"), [("2024-01-01", "2024-12-31"), ("2024-02-29", "2024-02-29")]
)
def test_a_whole_leap_year_or_a_single_day_is_a_period(client, rpc, date_from, date_to):
    rpc.on("orders", "sales_report", lambda date_from, date_to: {"items": []})
    response = client.get(
        f"/api/v1/admin/sales?from={date_from}&to={date_to}", headers=bearer(role="admin")
    )
    assert response.status_code == 200
    assert rpc.calls[0][2] == (date_from, date_to)
