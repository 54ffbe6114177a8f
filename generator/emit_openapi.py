"""Emit generated/openapi.json: the gateway's OpenAPI 3.1 document.

The request schemas are rendered from the same schema nodes as the generated
validators (`generator.schema_build`), so the document says what the gateway
enforces: the SDK's types, requiredness and nullability plus the matrix's
ranges and limits. Fields the matrix does not validate are listed too, marked
`x-gateway-forwarded`, with an unconstrained schema: the engine judges them.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from gateway.anchors import check_anchor, endpoint_anchor, field_anchor, slug
from gateway.limits.headers import MEANING, RATE_LIMIT_HEADERS, RETRY_HEADERS
from gateway.validation import schema as s
from gateway.validation.wording import number_text
from generator import ir
from generator.classify import is_validated
from generator.matrix import CrossFieldRule, Endpoint, LaterCheck, Matrix, check_stage
from generator.schema_build import SchemaBuilder, validated_nodes

if TYPE_CHECKING:  # regen imports this module to list it in EMITTERS
    from generator.regen import Inputs

OPENAPI_VERSION = "3.1.0"
PAGE = "/docs/compatibility"
JsonSchema = dict[str, Any]

# What each status means on this gateway; which endpoints answer which is below.
STATUS_TEXT = {
    "400": "The request body is off-spec: one error, `param` names the field.",
    "401": "Missing or unknown API key (`invalid_api_key`).",
    "404": "Unknown model (`model_not_found`), a model not served on this endpoint, "
    "or an endpoint this gateway does not serve.",
    "408": "The request headers or body did not arrive in time (`header_read_s`, `body_read_s`).",
    "413": "The request body is larger than the gateway accepts.",
    "415": "The request body's `Content-Encoding` is neither gzip nor deflate.",
    "429": "Over the key's requests- or tokens-per-minute limit (`rate_limit_exceeded`).",
    "502": "The engine answered garbage or a server error.",
    "503": "The engine is not reachable, the rate limiter is unavailable, the process holds its "
    "budget of request bodies or connections, or the gateway is shutting down.",
    "504": "The engine did not answer in time.",
}
PROXY_STATUSES = ("400", "401", "404", "408", "413", "415", "429", "502", "503", "504")
MODELS_STATUSES = ("401", "404", "429", "503")
UNSUPPORTED_STATUSES = ("401", "404", "429", "503")


def emit_openapi(inputs: Inputs) -> dict[str, str]:
    document = openapi_document(inputs.matrix, inputs.surface)
    return {"openapi.json": json.dumps(document, indent=2, ensure_ascii=False) + "\n"}


def openapi_document(matrix: Matrix, surface: ir.Surface) -> dict[str, Any]:
    """The whole document, keys in a fixed order so that two regens write the same bytes."""
    builder = SchemaBuilder(surface)
    paths: dict[str, Any] = {}
    for endpoint in matrix.endpoints:
        for path in endpoint.paths:
            item = paths.setdefault(_api_path(path), {})
            item[endpoint.method.lower()] = _operation(endpoint, path)
    request_schemas = {
        _request_name(e): _request_schema(e, surface, builder, matrix.later_checks(e))
        for e in matrix.request_endpoints
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": _info(matrix),
        "externalDocs": {"description": matrix.page.title, "url": PAGE},
        "servers": [{"url": "/v1", "description": "This gateway"}],
        "security": [{"bearerAuth": []}],
        "tags": [_tag(e) for e in matrix.endpoints],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key of this gateway: `Authorization: Bearer sk-…`.",
                }
            },
            "schemas": {
                **dict(sorted(request_schemas.items())),
                **dict(_objects(builder)),
                "Error": _error_schema(),
                "Model": _model_schema(),
                "ModelList": _model_list_schema(),
            },
            "headers": _headers(),
            "responses": {status: _error_response(status) for status in STATUS_TEXT},
        },
    }


def _info(matrix: Matrix) -> dict[str, Any]:
    return {
        "title": f"{matrix.page.title}: the gateway's API",
        "version": f"openai-python {matrix.sdk.version}",
        "description": (
            f"{matrix.page.promise} Request schemas are what the gateway enforces, read from "
            f"openai-python {matrix.sdk.version} plus the support matrix; see the "
            f"[compatibility page]({PAGE}). `integer` means a JSON number written without a "
            "fraction or exponent (`1.0` is refused where an integer is wanted)."
        ),
    }


def _api_path(path: str) -> str:
    return path.removeprefix("/v1")


def _tag(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "name": endpoint.key,
        "description": " ".join(endpoint.notes.split()),
        "externalDocs": {"url": f"{PAGE}#{endpoint_anchor(endpoint.key)}"},
    }


def _request_name(endpoint: Endpoint) -> str:
    assert endpoint.request is not None
    return endpoint.request.name


# ---------------------------------------------------------------- operations


def _operation(endpoint: Endpoint, path: str) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", path)
    ]
    operation: dict[str, Any] = {
        "tags": [endpoint.key],
        "operationId": _operation_id(endpoint, path),
        "summary": endpoint.title,
        "description": " ".join(endpoint.notes.split()),
        "externalDocs": {"url": f"{PAGE}#{endpoint_anchor(endpoint.key)}"},
        "x-gateway-supported": endpoint.supported,
    }
    if parameters:
        operation["parameters"] = parameters
    operation.update(_shape(endpoint, path))
    return operation


def _operation_id(endpoint: Endpoint, path: str) -> str:
    suffix = "" if path == endpoint.paths[0] else f"-{slug(path.rsplit('/', 1)[-1])}"
    return f"{slug(endpoint.key)}{suffix}"


def _shape(endpoint: Endpoint, path: str) -> dict[str, Any]:
    if not endpoint.supported:
        return {"responses": _responses(UNSUPPORTED_STATUSES)}
    if endpoint.handler == "models":
        return _models_shape(path)
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{_request_name(endpoint)}"}
                }
            },
        },
        "responses": {"200": _proxy_success(endpoint), **_responses(PROXY_STATUSES)},
    }


def _models_shape(path: str) -> dict[str, Any]:
    listed = "ModelList" if "{model}" not in path else "Model"
    return {"responses": {"200": _json_ok(listed), **_responses(MODELS_STATUSES)}}


def _json_ok(schema: str) -> dict[str, Any]:
    return {
        "description": "OK",
        "headers": _header_refs(RATE_LIMIT_HEADERS),
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _proxy_success(endpoint: Endpoint) -> dict[str, Any]:
    content: dict[str, Any] = {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "The engine's answer in OpenAI's shape; see the page's "
                f"[response fields]({PAGE}#response-fields).",
            }
        }
    }
    if "stream" in endpoint.validated:
        content["text/event-stream"] = {
            "schema": {
                "type": "string",
                "description": "With `stream: true`: `data:` events of chunks, then "
                "`data: [DONE]`; a failure after the start is a `data:` event holding an "
                "`error` envelope.",
            }
        }
    return {
        "description": "The engine's answer",
        "headers": _header_refs(RATE_LIMIT_HEADERS),
        "content": content,
    }


def _responses(statuses: tuple[str, ...]) -> dict[str, Any]:
    return {status: {"$ref": f"#/components/responses/{status}"} for status in statuses}


def _error_response(status: str) -> dict[str, Any]:
    names = RATE_LIMIT_HEADERS + RETRY_HEADERS if status in ("429", "503") else ()
    response: dict[str, Any] = {
        "description": STATUS_TEXT[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if names:
        response["headers"] = _header_refs(names)
    return response


def _header_refs(names: tuple[str, ...]) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _headers() -> dict[str, Any]:
    return {
        name: {
            "description": MEANING[name],
            "schema": {"type": "string", "externalDocs": {"url": f"{PAGE}#rate-limits"}},
        }
        for name in (*RATE_LIMIT_HEADERS, *RETRY_HEADERS)
    }


# ---------------------------------------------------------------- schemas


def _request_schema(
    endpoint: Endpoint,
    surface: ir.Surface,
    builder: SchemaBuilder,
    checks: tuple[LaterCheck, ...],
) -> JsonSchema:
    """The top-level body: validated fields enforced, every other SDK field forwarded.

    The checks after the schema stage follow as `allOf`, in the matrix's order.
    """
    root = surface.root(endpoint.key)
    nodes = dict(validated_nodes(builder, root, endpoint))
    properties: dict[str, Any] = {}
    for f in root.fields:
        if is_validated(endpoint, f):
            properties[f.name] = _documented(schema_of(nodes[f.name]), f, endpoint)
        else:
            properties[f.name] = {
                "description": f"Forwarded to the engine unvalidated (SDK type `{f.annotation}`).",
                "x-gateway-forwarded": True,
            }
    required = [f.name for f in root.fields if f.required and is_validated(endpoint, f)]
    schema: JsonSchema = {
        "type": "object",
        "description": f"{endpoint.title}, as the gateway validates it (SDK: {root.sdk_path}).",
        "properties": properties,
        "required": required,
    }
    if checks:
        schema["allOf"] = [_later_check(check, endpoint) for check in checks]
    return schema


def _later_check(check: LaterCheck, endpoint: Endpoint) -> JsonSchema:
    """One check after the schema stage, as JSON Schema says it exactly.

    `maximum`/`minimum` constrain numbers only and `additionalProperties` objects
    only, so a null or absent field passes, as it does the gateway's check.
    """
    stage = check_stage(check)
    described: JsonSchema = {
        "description": _check_text(check),
        "externalDocs": {"url": f"{PAGE}#{check_anchor(endpoint.key, check.key)}"},
        "x-gateway-check": check.key,
        "x-gateway-stage": stage,
    }
    if isinstance(check, CrossFieldRule):
        return {**described, **_cross_field(check)}
    if check.value_minimum is not None or check.value_maximum is not None:
        values = _bounded(
            {}, minimum=_number(check.value_minimum), maximum=_number(check.value_maximum)
        )
        return {**described, "properties": {check.field: {"additionalProperties": values}}}
    bounds = _bounded({}, minimum=_number(check.minimum), maximum=_number(check.maximum))
    return {**described, "properties": {check.field: bounds}}


def _cross_field(rule: CrossFieldRule) -> JsonSchema:
    """If `field` is sent (not null, not an excepted value), `requires_field` must be too."""
    not_sent: list[JsonSchema] = [{"type": "null"}]
    if rule.except_values:
        not_sent.append({"enum": list(rule.except_values)})
    partner: JsonSchema = {"const": True} if rule.when == "enabled" else {"not": {"type": "null"}}
    return {
        "if": {"required": [rule.field], "properties": {rule.field: {"not": {"anyOf": not_sent}}}},
        "then": {"required": [rule.requires_field], "properties": {rule.requires_field: partner}},
    }


def _check_text(check: LaterCheck) -> str:
    if isinstance(check, CrossFieldRule):
        return " ".join(check.message.split())
    return " ".join(check.why.split())


def _documented(schema: JsonSchema, field: ir.Field, endpoint: Endpoint) -> JsonSchema:
    """A validated top-level field: its schema, the SDK's prose and the page's anchor."""
    constraints = endpoint.validated[field.name]
    notes = [field.doc.strip()] if field.doc.strip() else []
    if constraints.why:
        notes.append(constraints.why)
    documented: JsonSchema = {**schema}
    if notes:
        documented["description"] = "\n\n".join(notes)
    documented["externalDocs"] = {"url": f"{PAGE}#{field_anchor(endpoint.key, field.name)}"}
    return documented


def _objects(builder: SchemaBuilder) -> list[tuple[str, JsonSchema]]:
    """Every object the request schemas refer to, by its schema-node name, sorted."""
    return [
        (_component(name), _object_schema(builder.objects[name], builder.sdk_objects[name]))
        for name in sorted(builder.objects)
    ]


def _component(object_name: str) -> str:
    """The surface's object name, which the validators' class bears too."""
    return object_name


def _object_schema(node: s.Object, definition: ir.ObjectDef) -> JsonSchema:
    properties = {f.name: schema_of(f.type) for f in node.fields}
    for field in definition.fields:
        if field.doc.strip() and field.name in properties:
            properties[field.name] = {**properties[field.name], "description": field.doc.strip()}
    return {
        "type": "object",
        "description": f"SDK: {definition.sdk_path}",
        "properties": properties,
        "required": [f.name for f in node.fields if f.required],
    }


def schema_of(node: s.Node) -> JsonSchema:
    """The JSON Schema (2020-12, as OpenAPI 3.1 uses it) of one schema node."""
    if isinstance(node, s.Scalar):
        return _scalar(node)
    if isinstance(node, s.Null):
        return {"type": "null"}
    if isinstance(node, s.AnyJson):
        return {}
    if isinstance(node, s.Enum):
        return {"enum": list(node.values)}
    if isinstance(node, s.Array):
        return _bounded(
            {"type": "array", "items": schema_of(node.items)},
            minItems=node.min_items,
            maxItems=node.max_items,
        )
    if isinstance(node, s.Map):
        return _map(node)
    if isinstance(node, s.Object):
        return {"$ref": f"#/components/schemas/{_component(node.name)}"}
    return _one_of(node)


def _one_of(node: s.OneOf) -> JsonSchema:
    """`anyOf`; the objects of a tagged union grouped under OpenAPI's `discriminator`.

    A discriminator may only list object schemas, so when the union also has
    other branches (a string, an array) the tagged objects get an `anyOf` of
    their own: the same values are accepted, and client generators see the tag.
    """
    tagged = [o for o in node.options if isinstance(o, s.Object) and o.tag_field is not None]
    if len(tagged) < 2:
        return {"anyOf": [schema_of(option) for option in node.options]}
    group = {
        "anyOf": [schema_of(o) for o in tagged],
        "discriminator": {"propertyName": tagged[0].tag_field},
    }
    others = [schema_of(o) for o in node.options if o not in tagged]
    return group if not others else {"anyOf": [*others, group]}


def _scalar(node: s.Scalar) -> JsonSchema:
    return _bounded(
        {"type": node.kind},
        minimum=_number(node.minimum),
        maximum=_number(node.maximum),
        maxLength=node.max_length,
    )


def _map(node: s.Map) -> JsonSchema:
    schema: JsonSchema = {"type": "object", "additionalProperties": schema_of(node.values)}
    if node.key_max_length is not None:
        schema["propertyNames"] = {"maxLength": node.key_max_length}
    return _bounded(schema, maxProperties=node.max_properties)


def _bounded(schema: JsonSchema, **bounds: int | float | None) -> JsonSchema:
    return {**schema, **{k: v for k, v in bounds.items() if v is not None}}


def _number(value: float | None) -> int | float | None:
    """Whole bounds as JSON integers (`2`, not `2.0`), as the page writes them."""
    if value is None:
        return None
    return int(value) if number_text(value).lstrip("-").isdigit() else value


# ---------------------------------------------------------------- fixed shapes


def _error_schema() -> JsonSchema:
    return {
        "type": "object",
        "description": "OpenAI's error envelope, plus `doc_url`.",
        "externalDocs": {"url": f"{PAGE}#errors"},
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                    "doc_url": {
                        "type": "string",
                        "description": "This gateway's extension: the compatibility page's "
                        "anchor for the field or topic of the error.",
                    },
                },
                "required": ["message", "type", "param", "code", "doc_url"],
            }
        },
        "required": ["error"],
    }


def _model_schema() -> JsonSchema:
    return {
        "type": "object",
        "description": "OpenAI's Model shape, plus the `category` that picks the endpoint.",
        "externalDocs": {"url": f"{PAGE}#model-discovery"},
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "model"},
            "created": {"type": "integer"},
            "owned_by": {"type": "string"},
            "category": {"type": "string"},
        },
        "required": ["id", "object", "created", "owned_by", "category"],
    }


def _model_list_schema() -> JsonSchema:
    return {
        "type": "object",
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
        },
        "required": ["object", "data"],
    }
