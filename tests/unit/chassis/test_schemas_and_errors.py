import pytest
from nameko.exceptions import deserialize, serialize

from chassis.contracts.products import NewProduct, ProductChanges
from chassis.contracts.users import RegisterUser
from chassis.errors import InvalidInput, NotFound
from chassis.schemas import load


def test_load_returns_validated_data_with_defaults():
    data = load(NewProduct(), {"sku": "A-1", "name": "Mug", "price_cents": 100})
    assert data == {"sku": "A-1", "name": "Mug", "price_cents": 100, "description": "", "stock": 0}


def test_load_names_every_bad_field():
    with pytest.raises(InvalidInput) as caught:
        load(NewProduct(), {"sku": "", "price_cents": -1, "colour": "red"})
    fields = caught.value.fields
    assert set(fields) == {"sku", "name", "price_cents", "colour"}
    assert fields["colour"] == ["Unknown field."]


def test_load_refuses_what_is_not_an_object():
    with pytest.raises(InvalidInput) as caught:
        load(NewProduct(), ["sku"])
    assert "_schema" in caught.value.fields


@pytest.mark.parametrize("field", ["id", "sku"])
def test_changes_name_read_only_fields(field):
    with pytest.raises(InvalidInput) as caught:
        load(ProductChanges(), {field: 3, "name": "x"})
    assert caught.value.fields == {field: ["Read-only field."]}


def test_changes_need_at_least_one_field():
    with pytest.raises(InvalidInput) as caught:
        load(ProductChanges(), {})
    assert "_schema" in caught.value.fields


def test_ints_are_strict_so_strings_and_bools_are_refused():
    with pytest.raises(InvalidInput) as caught:
        load(NewProduct(), {"sku": "A", "name": "B", "price_cents": "100", "stock": True})
    assert set(caught.value.fields) == {"price_cents", "stock"}


def test_blank_names_are_refused():
    with pytest.raises(InvalidInput) as caught:
        load(RegisterUser(), {"email": "a@b.co", "password": "long enough", "name": "   "})
    assert set(caught.value.fields) == {"name"}


def test_service_errors_survive_nameko_serialisation():
    error = NotFound("No product 7", {"product_id": ["Not found."]})
    data = serialize(error)
    assert data["exc_args"] == ["No product 7", {"product_id": ["Not found."]}]
    assert data["value"] == "No product 7"
    rebuilt = deserialize(data)  # an unregistered path comes back as RemoteError
    assert rebuilt.exc_type == "NotFound"


def test_a_remote_error_comes_back_as_its_own_class_with_its_fields():
    from nameko.exceptions import deserialize, serialize

    from chassis.contracts.errors import OutOfStock, ProductNotFound

    sent = ProductNotFound("Unknown product", {"items": {"9": ["Unknown product."]}})
    received = deserialize(serialize(sent))  # as nameko carries it from service to caller
    assert type(received) is ProductNotFound
    assert received.fields == {"items": {"9": ["Unknown product."]}}
    assert received.message == "Unknown product"
    assert not isinstance(received, OutOfStock)


def test_a_database_that_went_away_is_a_service_unavailable_not_an_internal_error():
    from contextlib import contextmanager

    import pytest
    from sqlalchemy.exc import OperationalError

    from chassis.contracts.errors import ServiceUnavailable
    from chassis.store import Transactions

    @contextmanager
    def session_of_a_restarting_database():
        yield object()
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    store = Transactions(session_of_a_restarting_database, lambda session: session)
    with pytest.raises(ServiceUnavailable) as caught, store.transaction():
        pass
    assert caught.value.fields == {}
    assert isinstance(caught.value.__cause__, OperationalError)
