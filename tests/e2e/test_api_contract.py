"""The gateway keeps the contract it publishes.

For every operation in the OpenAPI document, schemathesis sends the running cluster requests
built from the document (valid ones and deliberately invalid ones), as a customer, or as the
admin where the operation is for admins. Each answer must be no server error, with a documented
status code and content type, and a body matching its schema.

The document is built at collection time, as the gateway builds it, since the cluster starts
only in a fixture; the first test checks that the cluster serves that very document.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from gateway.app import create_app
from gateway.config import Settings
from gateway.openapi import build_spec
from tests.e2e.conftest import new_customer

# What the document promises about answers. Not schemathesis' positive_data_acceptance: some
# rules live in code, not in JSON Schema (``to`` not before ``from``, a key used for another
# request, marshmallow's idea of an email address), so a schema-valid request may rightly get
# a documented 400 or 422.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    unsupported_method,  # an undocumented method: 405 with Allow
]


DOCUMENT = build_spec(create_app(Settings(jwt_secret="only-to-build-the-document-0123456789")))
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_document_and_its_page_are_served(api):
    served = api.get("/api/v1/openapi.json")
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "application/json"
    assert served.json() == DOCUMENT
    page = api.get("/api/v1/docs")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'spec-url="/api/v1/openapi.json"' in page.text


@pytest.fixture(scope="module")
def shopper(api):
    # One customer for every operation: each login counts against the per-address limit.
    return new_customer(api)


def for_admins(case) -> bool:
    # Only admin operations can answer 403: the document says which they are.
    return "403" in case.operation.definition.raw["responses"]


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    database=None,  # no examples kept between runs: a failure prints how to reproduce it
    suppress_health_check=list(HealthCheck),  # a live cluster is slow by Hypothesis' measure
)
def test_every_operation_keeps_the_contract(case, cluster, admin, shopper):
    caller = admin if for_admins(case) else shopper
    case.call_and_validate(base_url=cluster, session=caller.session, timeout=15, checks=CHECKS)
