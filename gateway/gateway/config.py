"""The gateway's settings, all from the environment, read once when the app is created."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from chassis.config import env_float, env_int

MIN_SECRET_LENGTH = 32  # HS256 wants a key as long as its hash: 32 bytes
# Secrets this repository once published as defaults: anyone could sign tokens with them.
PUBLISHED_SECRETS = frozenset(
    {
        "local-development-secret-change-me-in-production",
        "dev-only-jwt-secret-replace-me-0123456789abcdef",
    }
)
DEFAULT_OPS_PORT = 9100
SERVICES = ("users", "products", "orders", "payments", "notifications")
# Where each service answers /health/ready (its OPS_PORT), as `make run` starts them.
DEFAULT_OPS_URLS = ",".join(
    f"{name}=http://127.0.0.1:{9101 + i}" for i, name in enumerate(SERVICES)
)


@dataclass(frozen=True)
class Settings:
    amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672/"
    rpc_timeout: float = 5.0  # seconds a call may take before the client gets 504
    # other bounds for some call sites: {"orders.create_order": 8.0, "products": 2.0}
    rpc_timeouts: dict[str, float] = field(default_factory=dict)
    rpc_pool_size: int = 8  # started RPC clients per gunicorn worker (match its threads)
    ready_timeout: float = 2.0
    # for a call whose answer a request can do without (product names on an order)
    optional_rpc_timeout: float = 1.0
    jwt_secret: str = ""  # required: see check_secret
    jwt_ttl: int = 3600
    jwt_issuer: str = "shop"
    jwt_audience: str = "shop-api"
    services: tuple[str, ...] = field(default=SERVICES)
    redis_url: str = "redis://127.0.0.1:6379/0"  # where Idempotency-Key answers are kept
    idempotency_ttl: int = 86400  # seconds a key's answer is replayed
    breaker_fail_max: int = 5  # failures in a row to reach a service that open its breaker
    breaker_reset_timeout: float = 10.0  # seconds an open breaker answers 503 before a trial
    read_attempts: int = 2  # tries of an idempotent read whose connection broke
    # service name -> base URL of its health port; /health/ready asks each (none: RPC ping only)
    ops_urls: dict[str, str] = field(default_factory=dict)
    # Rate limits ("N per second|minute|hour|day", several joined by ";"; empty: no limit),
    # counted in Redis so every worker and instance shares them (gateway.limits).
    rate_limit_enabled: bool = True
    rate_limit_storage_url: str = ""  # empty: redis_url
    rate_limit_strategy: str = "moving-window"
    # Failed logins (only 401 answers keep their count) of one email address from one client
    # address, and a higher ceiling for the email address from everywhere (gateway.logins).
    rate_limit_failed_logins_per_email_and_ip: str = "5 per minute"
    rate_limit_failed_logins_per_email: str = "100 per hour"
    rate_limit_logins_per_ip: str = "300 per minute"  # one office behind one address logs in often
    rate_limit_signups_per_ip: str = "20 per minute; 100 per hour"  # every attempt counts
    rate_limit_orders_per_user: str = "120 per minute"  # orders placed (201/202, no replay)
    rate_limit_default_per_ip: str = ""  # every route but /health (the ops port is never limited)
    trusted_proxy_hops: int = 0  # proxies in front whose X-Forwarded-For names the client
    cors_origins: tuple[str, ...] = ()  # origins a browser may call the API from; none: no CORS
    ops_port: int = DEFAULT_OPS_PORT  # /health/live, /health/ready, /metrics (gateway.ops)

    @classmethod
    def from_env(cls) -> Settings:
        """The settings from the environment; ``JWT_SECRET`` is required (``check_secret``)."""
        secret = os.environ.get("JWT_SECRET", "")
        check_secret(secret)
        return cls(
            amqp_uri=os.environ.get("AMQP_URI", cls.amqp_uri),
            rpc_timeout=env_float("RPC_TIMEOUT", cls.rpc_timeout),
            rpc_timeouts=parse_timeouts(os.environ.get("RPC_TIMEOUTS", "")),
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
            ops_urls=parse_ops_urls(os.environ.get("SERVICE_OPS_URLS", DEFAULT_OPS_URLS)),
            rate_limit_enabled=env_flag("RATE_LIMIT_ENABLED", cls.rate_limit_enabled),
            rate_limit_storage_url=os.environ.get(
                "RATE_LIMIT_STORAGE_URL", cls.rate_limit_storage_url
            ),
            rate_limit_strategy=os.environ.get("RATE_LIMIT_STRATEGY", cls.rate_limit_strategy),
            rate_limit_failed_logins_per_email_and_ip=os.environ.get(
                "RATE_LIMIT_FAILED_LOGINS_PER_EMAIL_AND_IP",
                cls.rate_limit_failed_logins_per_email_and_ip,
            ),
            rate_limit_failed_logins_per_email=os.environ.get(
                "RATE_LIMIT_FAILED_LOGINS_PER_EMAIL", cls.rate_limit_failed_logins_per_email
            ),
            rate_limit_signups_per_ip=os.environ.get(
                "RATE_LIMIT_SIGNUPS_PER_IP", cls.rate_limit_signups_per_ip
            ),
            rate_limit_logins_per_ip=os.environ.get(
                "RATE_LIMIT_LOGINS_PER_IP", cls.rate_limit_logins_per_ip
            ),
            rate_limit_orders_per_user=os.environ.get(
                "RATE_LIMIT_ORDERS_PER_USER", cls.rate_limit_orders_per_user
            ),
            rate_limit_default_per_ip=os.environ.get(
                "RATE_LIMIT_DEFAULT_PER_IP", cls.rate_limit_default_per_ip
            ),
            trusted_proxy_hops=env_int("TRUSTED_PROXY_HOPS", cls.trusted_proxy_hops),
            cors_origins=env_list("CORS_ORIGINS"),
            ops_port=env_int("GATEWAY_OPS_PORT", cls.ops_port),
        )


def check_secret(secret: str) -> None:
    """Refuse to sign or accept tokens with no secret, a short one, or one that was ever
    written in this repository: whoever knows the secret can mint an admin's token."""
    how = (
        "`make run` makes one per installation (.run/secrets/jwt-secret); elsewhere set one: "
        "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
    )
    if not secret:
        raise RuntimeError(f"JWT_SECRET is not set: {how}")
    if secret in PUBLISHED_SECRETS:
        raise RuntimeError(f"JWT_SECRET is a published example, known to anyone: {how}")
    if len(secret) < MIN_SECRET_LENGTH:
        raise RuntimeError(f"JWT_SECRET must be {MIN_SECRET_LENGTH} characters or more: {how}")


def parse_pairs(variable: str, raw: str) -> dict[str, str]:
    """``a=1,b=2`` as a dict; fails naming ``variable`` when an entry is not ``name=value``."""
    pairs: dict[str, str] = {}
    for entry in split_list(raw):
        name, sep, value = entry.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"{variable}: {entry!r} is not name=value")
        pairs[name.strip()] = value.strip()
    return pairs


def parse_ops_urls(raw: str) -> dict[str, str]:
    """``users=http://users:9100,orders=http://orders:9100`` as a dict."""
    urls = parse_pairs("SERVICE_OPS_URLS", raw)
    for name, url in urls.items():
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"SERVICE_OPS_URLS: {name}={url!r} is not an http(s) URL")
    return {name: url.rstrip("/") for name, url in urls.items()}


def parse_timeouts(raw: str) -> dict[str, float]:
    """``orders.create_order=8,products=2``: seconds per call site (``service.method``) or
    per service, for calls that need another bound than ``RPC_TIMEOUT``."""
    timeouts: dict[str, float] = {}
    for site, seconds in parse_pairs("RPC_TIMEOUTS", raw).items():
        try:
            timeouts[site] = float(seconds)
        except ValueError:
            raise ValueError(f"RPC_TIMEOUTS: {site}={seconds!r} is not a number") from None
        if timeouts[site] <= 0:
            raise ValueError(f"RPC_TIMEOUTS: {site} must be more than 0 seconds")
    return timeouts


def env_flag(name: str, default: bool) -> bool:
    """A yes/no setting: ``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``)."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def env_list(name: str) -> tuple[str, ...]:
    """A comma-separated setting as a tuple, blanks dropped: unset or empty is ``()``."""
    return split_list(os.environ.get(name, ""))


def split_list(raw: str) -> tuple[str, ...]:
    """``"a, b,,c"`` as ``("a", "b", "c")``."""
    return tuple(filter(None, (part.strip() for part in raw.split(","))))
