from gateway.routes import health
from tests.unit.gateway.conftest import SETTINGS


def test_health_answers_while_the_process_lives(client, ops):
    assert client.get("/health").json == {"status": "ok"}
    assert ops.get("/health/live").json == {"status": "ok"}


def test_ready_names_what_failed(ops, ready_rpc, monkeypatch):
    monkeypatch.setattr(health, "_check_broker", lambda: None)
    assert ops.get("/health/ready").status_code == 200

    def down():
        raise TimeoutError()

    ready_rpc.on("payments", "ping", down)
    response = ops.get("/health/ready")
    assert response.status_code == 503
    assert response.json["failed"] == ["payments"]
    assert response.json["checks"]["users"] == "ok"


def test_ready_without_a_broker_is_503(ops, monkeypatch):
    monkeypatch.setattr(health, "_check_broker", lambda: "unreachable: OSError")
    response = ops.get("/health/ready")
    assert response.status_code == 503
    assert response.json["failed"] == ["rabbitmq"]


def test_metrics_count_requests_by_route_and_status(client, ops):
    client.get("/health")
    client.get("/api/v1/products/abc")
    text = ops.get("/metrics").get_data(as_text=True)
    assert 'gateway_http_requests_total{method="GET",route="/health",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "gateway_http_request_duration_seconds_bucket" in text


def test_readiness_and_metrics_are_not_served_on_the_public_port(client, ops, monkeypatch):
    monkeypatch.setattr(health, "_check_broker", lambda: None)
    for path in ("/ready", "/health/ready", "/metrics", "/health/live"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json["error"] == "not_found"
    # Nor the API on the ops port: it serves the operator's routes only.
    assert ops.get("/api/v1/products/1").status_code == 404
    assert ops.get("/health/ready").status_code == 200


def test_the_ops_port_is_a_setting():
    assert SETTINGS.ops_port == 9100
