"""Anchors of the compatibility page: one source for the page and for `doc_url`."""

from __future__ import annotations

import re

_SLUG = re.compile(r"[^a-z0-9]+")
_TOP_LEVEL = re.compile(r"[.\[]")


def slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")


def field_anchor(endpoint: str, field: str) -> str:
    """`chat-completions-messages` for the field `messages` of `chat.completions`."""
    return f"{slug(endpoint)}-{slug(field)}"


def param_anchor(endpoint: str, param: str | None) -> str:
    """The anchor for an error's `param`: its top-level field, else the endpoint."""
    if not param:
        return endpoint_anchor(endpoint)
    return field_anchor(endpoint, _TOP_LEVEL.split(param, maxsplit=1)[0])


def check_anchor(endpoint: str, key: str) -> str:
    """`check-chat-completions-top-logprobs-needs-logprobs`: a check after the schema stage."""
    return f"check-{slug(endpoint)}-{slug(key)}"


def endpoint_anchor(endpoint: str) -> str:
    return f"endpoint-{slug(endpoint)}"


TOPICS = (
    "authentication",
    "rate-limits",
    "errors",
    "model-discovery",
    "endpoints",
    "order-of-checks",
    "request-encoding",
)
