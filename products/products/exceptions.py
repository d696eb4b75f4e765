from chassis.errors import Conflict, InvalidInput, NotFound

__all__ = ["InvalidInput", "ProductNotFound", "DuplicateSku", "OutOfStock"]


class ProductNotFound(NotFound):
    pass


class DuplicateSku(Conflict):
    pass


class OutOfStock(Conflict):
    """Not enough stock for at least one item; ``fields`` names each short product."""
