"""The dashboard and the scrape configuration name only what the code exports and serves."""

import json
import re

import yaml
from prometheus_client import REGISTRY

import chassis.metrics  # noqa: F401  (registers the services' metrics)
import gateway.metrics  # noqa: F401  (registers the gateway's)
import orders.saga  # noqa: F401  (registers the saga's outcomes)
from chassis.config import load_config
from gateway.config import DEFAULT_OPS_PORT
from tests.conftest import ROOT

SERVICES = ("users", "products", "orders", "payments", "notifications")
# Read from the database when scraped, so not in the registry until a service runs.
SCRAPE_TIME_GAUGES = {"shop_outbox_backlog", "shop_outbox_oldest_unsent_age_seconds"}


def exported() -> set[str]:
    names = set(SCRAPE_TIME_GAUGES) | {"up"}
    for family in REGISTRY.collect():
        names.update(sample.name for sample in family.samples)
        names.add(family.name)
        names.update({f"{family.name}_total", f"{family.name}_bucket"})
    return names


def dashboard() -> dict:
    return json.loads((ROOT / "deploy" / "grafana" / "shop-overview.json").read_text())


def test_every_dashboard_query_names_an_exported_metric():
    known = exported()
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            used = set(re.findall(r"\b(?:shop|gateway)_[a-z_]+\b|\bup\b", target["expr"]))
            assert used, target["expr"]
            assert used <= known, (panel["title"], used - known)


def test_the_dashboard_shows_what_an_operator_asks_first():
    queries = " ".join(t["expr"] for p in dashboard()["panels"] for t in p["targets"])
    for metric in (
        "gateway_http_requests_total",
        "shop_rpc_calls_total",
        "shop_events_dead_lettered_total",
        "shop_saga_outcomes_total",
        "shop_outbox_oldest_unsent_age_seconds",
    ):
        assert metric in queries


def test_prometheus_scrapes_every_service_on_its_configured_ops_port(monkeypatch):
    monkeypatch.delenv("OPS_PORT", raising=False)
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target
        for job in scrape["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    for name in SERVICES:
        port = load_config(ROOT / name / "config.yaml")["OPS_PORT"]
        assert f"127.0.0.1:{port}" in targets, name
    # the gateway's /metrics is on its ops port (`make run` keeps the default), not the API's
    assert f"127.0.0.1:{DEFAULT_OPS_PORT}" in targets
    assert "127.0.0.1:8000" not in targets
