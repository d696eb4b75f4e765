from gateway.routes import health


def test_health_answers_while_the_process_lives(client):
    assert client.get("/health").json == {"status": "ok"}


def test_ready_names_what_failed(client, ready_rpc, monkeypatch):
    monkeypatch.setattr(health, "_check_broker", lambda: None)
    assert client.get("/ready").status_code == 200

    def down():
        raise TimeoutError()

    ready_rpc.on("payments", "ping", down)
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json["failed"] == ["payments"]
    assert response.json["checks"]["users"] == "ok"


def test_ready_without_a_broker_is_503(client, monkeypatch):
    monkeypatch.setattr(health, "_check_broker", lambda: "unreachable: OSError")
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json["failed"] == ["rabbitmq"]


def test_metrics_count_requests_by_route_and_status(client):
    client.get("/health")
    client.get("/api/v1/products/abc")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'gateway_http_requests_total{method="GET",route="/health",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "gateway_http_request_duration_seconds_bucket" in text
