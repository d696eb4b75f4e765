"""Create a service's database when missing and bring it to the latest Alembic revision.

    python -m chassis.migrate users products ...      # configs at <service>/config.yaml
    python -m chassis.migrate users --config path/to/config.yaml
    python -m chassis.migrate --broker users products ...   # then every queue, and the
                                                            # broker's users (chassis.broker)

The database URL comes from the service's config (``DB_URIS``), so the environment that
points a service at a database points its migrations there too.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import psycopg2
from alembic import command, context
from alembic.config import Config
from psycopg2 import errors, sql
from sqlalchemy import MetaData, create_engine, pool, text
from sqlalchemy.engine import make_url

from chassis.config import load_config, service_root

_log = logging.getLogger(__name__)

# One lock id for every service: migrations of one database never run twice at once, e.g.
# when several replicas or a Kubernetes Job and a developer start together.
MIGRATION_LOCK_ID = 7_412_001


def database_url(config: dict[str, Any], service: str) -> str:
    for key, url in (config.get("DB_URIS") or {}).items():
        if key.split(":", 1)[0] == service:
            return str(url)
    raise KeyError(f"no DB_URIS entry for service {service!r}")


def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist. True when it was created."""
    target = make_url(url)
    admin = target.set(database="postgres")
    conn = psycopg2.connect(
        dbname=admin.database,
        user=admin.username,
        password=admin.password,
        host=admin.host,
        port=admin.port,
        connect_timeout=5,
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,))
            if cur.fetchone():
                return False
            try:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.database)))
            except errors.DuplicateDatabase:
                return False
            return True
    finally:
        conn.close()


def upgrade(service: str, config_path: str | None = None, revision: str = "head") -> str:
    root = service_root(service)
    config = load_config(config_path or root / "config.yaml")
    url = database_url(config, service)
    if ensure_database(url):
        _log.info("created database %s", make_url(url).database)
    alembic_cfg = Config()
    alembic_cfg.set_main_option("script_location", str(root / "migrations"))
    alembic_cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(alembic_cfg, revision)
    return url


def run_env(metadata: MetaData) -> None:
    """The body of every service's ``migrations/env.py`` (online mode only)."""
    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("run migrations through `python -m chassis.migrate <service>`")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        try:
            context.configure(connection=connection, target_metadata=metadata)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("services", nargs="+")
    parser.add_argument("--config", help="config file (only with a single service)")
    parser.add_argument(
        "--broker",
        action="store_true",
        help="then declare every queue and make each program's broker user (needs the "
        "operator's AMQP_URI and each <NAME>_AMQP_PASSWORD: python -m chassis.broker setup)",
    )
    args = parser.parse_args(argv)
    if args.config and len(args.services) > 1:
        parser.error("--config goes with a single service")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for service in args.services:
        url = upgrade(service, args.config)
        print(f"  {service}: migrated {make_url(url).render_as_string(hide_password=True)}")
    if args.broker:  # after the databases: a failed migration stops before it
        from chassis import broker

        broker.main(["setup"])


if __name__ == "__main__":
    main()
