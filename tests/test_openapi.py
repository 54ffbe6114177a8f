"""The generated OpenAPI document: valid, served, and saying exactly what the validators enforce."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import msgspec
import pytest
from openapi_spec_validator import validate
from test_differential import CASES, SEEDS, VALIDATORS, Case, generate_cases

from generator.classify import forwarded_fields
from generator.regen import GENERATED, Inputs, load_inputs

DOCUMENT_PATH = GENERATED / "openapi.json"
PAGE_PATH = GENERATED / "compatibility.md"
# As the gateway reads a body it refuses: the JSON document, before any schema.
_DOCUMENT = msgspec.json.Decoder(float_hook=float)


def _integer(_: object, instance: object) -> bool:
    """A JSON integer as the gateway reads one: `1.0` and `1e2` are numbers, not integers."""
    return isinstance(instance, int) and not isinstance(instance, bool)


# The document says `integer` means a number without fraction or exponent; JSON Schema's
# own checker would also take 1.0, so the check uses the document's stated meaning.
_CHECKER = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _integer)
_Draft = jsonschema.validators.extend(  # type: ignore[no-untyped-call]  # unannotated upstream
    jsonschema.Draft202012Validator, type_checker=_CHECKER
)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return load_inputs()


def _request_validator(document: dict[str, Any], endpoint: str, inputs: Inputs) -> Any:
    request = inputs.matrix.endpoint(endpoint).request
    assert request is not None
    schema = {"$ref": f"#/components/schemas/{request.name}", "components": document["components"]}
    return _Draft(schema)


def _schema_accepts(validator: Any, body: bytes) -> bool:
    try:
        instance = _DOCUMENT.decode(body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return False  # not JSON: no schema accepts it
    try:
        return bool(validator.is_valid(instance))
    except RecursionError:  # a body nested deeper than the schema walk goes
        return False


def _cases(inputs: Inputs) -> Iterator[Case]:
    for endpoint, count in CASES.items():
        yield from generate_cases(inputs, endpoint, count, SEEDS[endpoint])


def test_document_is_a_valid_openapi_3_1_document(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_request_schemas_accept_exactly_the_bodies_the_validators_accept(
    document: dict[str, Any], inputs: Inputs
) -> None:
    """Every body of the differential test, judged by the document and by the validator."""
    schemas = {e: _request_validator(document, e, inputs) for e in CASES}
    disagreements = []
    total = 0
    for case in _cases(inputs):
        total += 1
        ours = VALIDATORS[case.endpoint].validator.problem(case.body) is None
        if ours != _schema_accepts(schemas[case.endpoint], case.body) and not (
            ours and _not_utf8(case.body)
        ):
            disagreements.append(f"[{case.endpoint}/{case.kind}] validator={ours} {case.body!r}")
    assert total == sum(CASES.values())
    assert not disagreements, f"{len(disagreements)} of {total}:\n" + "\n".join(disagreements[:10])


def _not_utf8(body: bytes) -> bool:
    """The validator's one allowance: such bytes inside fields it only forwards."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def test_every_matrix_endpoint_is_a_path_marked_supported_or_not(
    document: dict[str, Any], inputs: Inputs
) -> None:
    for endpoint in inputs.matrix.endpoints:
        for path in endpoint.paths:
            operation = document["paths"][path.removeprefix("/v1")][endpoint.method.lower()]
            assert operation["x-gateway-supported"] is endpoint.supported
            if not endpoint.supported:
                assert " ".join(endpoint.notes.split()) in operation["description"]
                assert set(operation["responses"]) >= {"401", "404"}


def test_every_sdk_field_is_either_enforced_or_marked_forwarded(
    document: dict[str, Any], inputs: Inputs
) -> None:
    for endpoint in inputs.matrix.request_endpoints:
        assert endpoint.request is not None
        properties = document["components"]["schemas"][endpoint.request.name]["properties"]
        sdk_fields = {f.name for f in inputs.surface.root(endpoint.key).fields}
        forwarded = {name for name, p in properties.items() if p.get("x-gateway-forwarded")}
        assert set(properties) == sdk_fields
        assert forwarded == set(forwarded_fields(endpoint, inputs.surface))


def test_proxied_endpoints_list_every_status_the_gateway_answers(
    document: dict[str, Any], inputs: Inputs
) -> None:
    expected = {"200", "400", "401", "404", "408", "413", "415", "429", "502", "503", "504"}
    for endpoint in inputs.matrix.request_endpoints:
        operation = document["paths"][endpoint.paths[0].removeprefix("/v1")]["post"]
        assert set(operation["responses"]) == expected
    error = document["components"]["schemas"]["Error"]["properties"]["error"]
    assert "doc_url" in error["required"]


def test_every_documentation_link_names_an_anchor_of_the_page(document: dict[str, Any]) -> None:
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', PAGE_PATH.read_text(encoding="utf-8")))
    urls = list(_external_doc_urls(document))
    assert len(urls) > 50
    missing = sorted({u for u in urls if "#" in u and u.split("#", 1)[1] not in anchors})
    assert not missing, missing


def _external_doc_urls(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("externalDocs"), dict):
            yield node["externalDocs"]["url"]
        for value in node.values():
            yield from _external_doc_urls(value)
    elif isinstance(node, list):
        for value in node:
            yield from _external_doc_urls(value)


@pytest.mark.e2e
def test_gateway_serves_the_generated_document(gateway_url: str) -> None:
    answer = httpx.get(f"{gateway_url.removesuffix('/v1')}/openapi.json", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.content == Path(DOCUMENT_PATH).read_bytes()
