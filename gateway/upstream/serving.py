"""What "a model is serving" means, in one place for every endpoint and the page.

A model is *serving* when it is in the catalog and its engine passed the
health monitor's latest check (gateway.upstream.health). Every endpoint follows that:

- `GET /v1/models` lists serving models only;
- `GET /v1/models/{model}` and every inference endpoint answer a model the
  catalog does not have with 404 `model_not_found` (param null, as
  api.openai.com does), and a catalog model that is not serving with a 503
  that says so, with `retry-after` (the SDKs retry it), without trying the
  engine;
- the catalog page shows the same state in its "Serving now" column.

A 404 is for what will not change by retrying; an engine that is down may be
back at the next health check, so it is a 503, never a 404.
"""

from __future__ import annotations

import math

from gateway.catalog import Model
from gateway.errors import ApiError

# The page's words for the rule and for model_not_found (generator/emit_docs.py imports them).
NOT_FOUND_MEANING = "The model you named is not in this gateway's catalog."
SERVING_RULE = (
    "A model is serving when its engine passed the gateway's latest health check. "
    "`GET /v1/models` lists serving models only; a catalog model that is not serving is "
    "answered 503 with `retry-after` on every endpoint, `GET /v1/models/{model}` included, "
    "without trying its engine, and answers again once its engine passes a check."
)


def is_serving(model: Model, serving_engines: frozenset[str]) -> bool:
    return model.engine in serving_engines


def not_found(model_id: str) -> ApiError:
    return ApiError(
        404,
        f"The model `{model_id}` does not exist or you do not have access to it.",
        param=None,  # as api.openai.com answers it
        code="model_not_found",
        anchor="model-discovery",
    )


def not_serving(model: Model, health_interval_s: float) -> ApiError:
    """The 503 for a catalog model whose engine is down: retry after the next check."""
    return ApiError(
        503,
        f"The model '{model.id}' is not serving right now: its engine is unavailable. "
        "Please retry shortly.",
        type="server_error",
        anchor="model-discovery",
        headers={"retry-after": str(max(1, math.ceil(health_interval_s)))},
    )
