"""A nameko ``timer`` whose interval is a setting of the service's config."""

from __future__ import annotations

from nameko.timer import Timer as _Timer

from chassis.config import setting


class Timer(_Timer):
    """``@timer("SAGA_RECOVERY_INTERVAL", default=5)`` fires every that-many seconds."""

    def __init__(self, setting_name: str, default: float, eager: bool = False) -> None:
        super().__init__(interval=default, eager=eager)
        self.setting_name = setting_name
        self.default = float(default)

    def setup(self) -> None:
        self.interval = setting(self.container.config, self.setting_name, self.default)


timer = Timer.decorator
