"""Fresh secrets for a deployment of the shop, printed as ``KEY=value`` lines.

    python3 deploy/secrets.py compose > .env            # each secret docker-compose.yaml requires
    python3 deploy/secrets.py kubernetes > secrets.env  # the keys of the Secret `shop-secrets`
    python3 deploy/secrets.py compose --keep .env       # .env as it is, plus what it lacks

Every value is random (the operating system's ``os.urandom``, what the standard library's
``secrets.token_hex`` returns) and hexadecimal: it goes into URLs
(``amqp://shop-orders:<password>@rabbitmq:5672/``), command lines and env files as it is.

``--keep FILE`` prints FILE unchanged, every value and every other line of it kept, with the
keys it lacks, or leaves empty, filled in; a missing FILE counts as an empty one. Re-running
never rotates a password: PostgreSQL and RabbitMQ read theirs only when their data volume is
created, and a new one would lock the services out of it.

The standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

SERVICES = ("users", "products", "orders", "payments", "notifications")
# Who logs in to the broker as a user of its own (chassis.broker.PRINCIPALS).
BROKER_USERS = (*SERVICES, "gateway")
AMQP_PASSWORDS = tuple(f"{name.upper()}_AMQP_PASSWORD" for name in BROKER_USERS)

TARGETS: dict[str, tuple[str, ...]] = {
    # Each ${NAME:?...} of docker-compose.yaml.
    "compose": (
        "JWT_SECRET",
        "POSTGRES_PASSWORD",
        "RABBITMQ_PASSWORD",
        *AMQP_PASSWORDS,
        "REDIS_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    ),
    # The Secret `shop-secrets` of deploy/kubernetes. The broker's operator user is not in it:
    # the RabbitMQ cluster operator makes that one (Secret `rabbitmq-default-user`).
    "kubernetes": (
        "JWT_SECRET",
        "POSTGRES_PASSWORD",
        *(f"{name.upper()}_DB_PASSWORD" for name in SERVICES),
        "REDIS_PASSWORD",
        *AMQP_PASSWORDS,
    ),
}
JWT_SECRET_BYTES = 32  # 64 characters: the gateway refuses fewer than 32
PASSWORD_BYTES = 24  # 48 characters, as `openssl rand -hex 24`

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")
_EMPTY = {"", '""', "''"}


def fresh(key: str) -> str:
    # secrets.token_hex, without importing `secrets`: run as deploy/secrets.py, that name is
    # this very file (the script's folder comes first on sys.path).
    return os.urandom(JWT_SECRET_BYTES if key == "JWT_SECRET" else PASSWORD_BYTES).hex()


def complete(keys: tuple[str, ...], existing: str = "") -> str:
    """``existing`` (an env file's text) with a fresh value for each of ``keys`` it lacks or
    leaves empty; everything else in it as it was."""
    lines, present = [], set()
    for line in existing.splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            key, value = match[1], match[2].strip()
            if key in keys and value in _EMPTY:
                line = f"{key}={fresh(key)}"
            present.add(key)
        lines.append(line)
    lines += [f"{key}={fresh(key)}" for key in keys if key not in present]
    return "".join(f"{line}\n" for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=sorted(TARGETS), help="what the secrets are for")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="FILE",
        help="print FILE with the missing keys added, keeping every value already in it",
    )
    args = parser.parse_args(argv)
    existing = args.keep.read_text() if args.keep and args.keep.exists() else ""
    sys.stdout.write(complete(TARGETS[args.target], existing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
