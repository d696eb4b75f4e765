"""The gateway's settings, all from the environment, read once when the app is created."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from chassis.config import env_float, env_int

DEV_JWT_SECRET = "local-development-secret-change-me-in-production"
MIN_SECRET_LENGTH = 32  # HS256 wants a key as long as its hash: 32 bytes
SERVICES = ("users", "products", "orders", "payments", "notifications")


@dataclass(frozen=True)
class Settings:
    amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672/"
    rpc_timeout: float = 5.0  # seconds a call may take before the client gets 504
    rpc_pool_size: int = 8  # started RPC clients per gunicorn worker (match its threads)
    ready_timeout: float = 2.0
    # for a call whose answer a request can do without (product names on an order)
    optional_rpc_timeout: float = 1.0
    jwt_secret: str = DEV_JWT_SECRET
    jwt_ttl: int = 3600
    jwt_issuer: str = "shop"
    jwt_audience: str = "shop-api"
    services: tuple[str, ...] = field(default=SERVICES)
    redis_url: str = "redis://127.0.0.1:6379/0"  # where Idempotency-Key answers are kept
    idempotency_ttl: int = 86400  # seconds a key's answer is replayed
    breaker_fail_max: int = 5  # failures in a row to reach a service that open its breaker
    breaker_reset_timeout: float = 10.0  # seconds an open breaker answers 503 before a trial
    read_attempts: int = 2  # tries of an idempotent read whose connection broke

    @classmethod
    def from_env(cls) -> Settings:
        """The settings from the environment. With ``APP_ENV=production`` it refuses to go on
        with the development JWT secret, or with one short enough to guess."""
        secret = os.environ.get("JWT_SECRET", DEV_JWT_SECRET)
        if os.environ.get("APP_ENV") == "production" and (
            secret == DEV_JWT_SECRET or len(secret) < MIN_SECRET_LENGTH
        ):
            raise RuntimeError(
                f"APP_ENV=production needs JWT_SECRET: a secret of at least {MIN_SECRET_LENGTH} "
                "characters of its own (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`)"
            )
        return cls(
            amqp_uri=os.environ.get("AMQP_URI", cls.amqp_uri),
            rpc_timeout=env_float("RPC_TIMEOUT", cls.rpc_timeout),
            rpc_pool_size=env_int("RPC_POOL_SIZE", cls.rpc_pool_size),
            ready_timeout=env_float("READY_TIMEOUT", cls.ready_timeout),
            optional_rpc_timeout=env_float("OPTIONAL_RPC_TIMEOUT", cls.optional_rpc_timeout),
            jwt_secret=secret,
            jwt_ttl=env_int("JWT_TTL", cls.jwt_ttl),
            redis_url=os.environ.get("REDIS_URL", cls.redis_url),
            idempotency_ttl=env_int("IDEMPOTENCY_TTL", cls.idempotency_ttl),
            breaker_fail_max=env_int("BREAKER_FAIL_MAX", cls.breaker_fail_max),
            breaker_reset_timeout=env_float("BREAKER_RESET_TIMEOUT", cls.breaker_reset_timeout),
            read_attempts=env_int("READ_ATTEMPTS", cls.read_attempts),
        )
