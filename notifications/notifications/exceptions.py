from chassis.errors import InvalidInput

__all__ = ["InvalidInput"]
