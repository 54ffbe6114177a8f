"""Which of an endpoint's SDK fields the gateway validates and which it forwards.

One definition for every output that lists them (the page, the surface, the
OpenAPI document, regen's summary): a field the matrix names under
`validated:` is validated to the full depth of its SDK type; every other field
of the SDK's request is forwarded to the engine byte for byte.
"""

from __future__ import annotations

from generator import ir
from generator.matrix import Endpoint


def forwarded_fields(endpoint: Endpoint, surface: ir.Surface) -> tuple[str, ...]:
    """The SDK's request fields the gateway passes on without checking, in the SDK's order."""
    return tuple(f.name for f in surface.root(endpoint.key).fields if not is_validated(endpoint, f))


def validated_fields(endpoint: Endpoint, surface: ir.Surface) -> tuple[ir.Field, ...]:
    """The SDK's request fields the matrix validates, in the SDK's order."""
    return tuple(f for f in surface.root(endpoint.key).fields if is_validated(endpoint, f))


def is_validated(endpoint: Endpoint, field: ir.Field) -> bool:
    return field.name in endpoint.validated
