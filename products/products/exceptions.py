from chassis.contracts.errors import DuplicateSku, InvalidInput, OutOfStock, ProductNotFound

__all__ = ["InvalidInput", "ProductNotFound", "DuplicateSku", "OutOfStock"]
