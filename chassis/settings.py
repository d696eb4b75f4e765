"""A service's own settings: one typed object, read from its config once, at setup.

    @dataclass(frozen=True)
    class OrdersSettings:
        saga_sync_budget: float = 3.0  # SAGA_SYNC_BUDGET in the config

    class OrdersService(base.ServiceBase):
        settings = Settings(OrdersSettings)

        def create_order(self, ...):
            ...self.settings.saga_sync_budget...

Each field is read from the config key of its name in capitals; the default is the field's,
and nowhere else (``config.yaml`` says ``SAGA_SYNC_BUDGET: ${SAGA_SYNC_BUDGET:}``: set from
the environment, or the default). A value of the wrong type fails the start, naming the key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from nameko.extensions import DependencyProvider

from chassis.config import setting

T = TypeVar("T")


def read_settings(cls: type[T], config: Mapping[str, Any]) -> T:
    """``cls`` (a dataclass of numbers with defaults) filled from ``config``."""
    values = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not isinstance(field.default, int | float):
            raise TypeError(f"{cls.__name__}.{field.name} needs a number as its default")
        values[field.name] = setting(config, field.name.upper(), field.default)
    return cls(**values)


class Settings(DependencyProvider, Generic[T]):
    def __init__(self, cls: type[T]) -> None:
        self.cls = cls

    def setup(self) -> None:
        self.value = read_settings(self.cls, self.container.config)

    def get_dependency(self, worker_ctx: Any) -> T:
        return self.value
