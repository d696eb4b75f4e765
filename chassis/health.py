"""The liveness call every service answers, used by the gateway's readiness check."""

from __future__ import annotations

from chassis.rpc import rpc


class PingMixin:
    """Mixed into each service class: ``ping()`` proves the service consumes its RPC queue.

    Import the module, not the class (``from chassis import health``): ``nameko run`` starts
    every class with entrypoints that it finds in a service module, this mixin included.
    """

    name: str

    @rpc
    def ping(self) -> dict[str, str]:
        return {"service": self.name, "status": "ok"}
