import pytest

from chassis.config import env_float, env_int, load_config, setting
from chassis.migrate import database_url
from tests.conftest import ROOT


def test_service_configs_expand_placeholders_from_the_environment(monkeypatch):
    monkeypatch.setenv("PRODUCTS_DATABASE_URL", "postgresql+psycopg2://u:p@db:5432/p")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("MAX_WORKERS", "25")
    config = load_config(ROOT / "products" / "config.yaml")
    assert database_url(config, "products") == "postgresql+psycopg2://u:p@db:5432/p"
    assert config["REDIS_URL"] == "redis://127.0.0.1:6379/0"  # the default after the colon
    assert config["max_workers"] == 25


def test_a_config_without_the_service_database_says_so():
    config = load_config(ROOT / "orders" / "config.yaml")
    with pytest.raises(KeyError, match="'gateway'"):
        database_url(config, "gateway")


def test_numeric_settings_from_a_service_config():
    config = {"AS_INT": 3, "AS_TEXT": "2.5", "EMPTY": "", "BAD": "soon"}
    assert setting(config, "AS_INT", 1.0) == 3.0
    assert setting(config, "AS_TEXT", 1.0) == 2.5
    assert setting(config, "EMPTY", 4) == 4
    assert setting(config, "MISSING", 4) == 4
    with pytest.raises(ValueError, match="BAD must be a number"):
        setting(config, "BAD", 1)


def test_numbers_from_the_environment(monkeypatch):
    monkeypatch.setenv("SOME_TIMEOUT", "2.5")
    monkeypatch.setenv("SOME_COUNT", "")
    assert env_float("SOME_TIMEOUT", 1.0) == 2.5
    assert env_int("SOME_COUNT", 4) == 4
    monkeypatch.setenv("SOME_COUNT", "four")
    with pytest.raises(ValueError, match="SOME_COUNT must be a number"):
        env_int("SOME_COUNT", 4)


def test_a_services_settings_come_from_its_config_or_their_defaults(monkeypatch):
    from chassis.settings import read_settings
    from orders.settings import OrdersSettings

    monkeypatch.delenv("SAGA_DEADLINE", raising=False)
    monkeypatch.setenv("SAGA_SYNC_BUDGET", "1.5")
    settings = read_settings(OrdersSettings, load_config(ROOT / "orders" / "config.yaml"))
    assert settings.saga_sync_budget == 1.5  # from the environment, through config.yaml
    assert settings.saga_deadline == OrdersSettings.saga_deadline  # unset: the one default
    with pytest.raises(ValueError, match="SAGA_LEASE must be a number"):
        read_settings(OrdersSettings, {"SAGA_LEASE": "soon"})
