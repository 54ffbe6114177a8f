"""The model catalog: which models the gateway serves, on which engine, with what.

Each model points at an OpenAI-compatible engine (vLLM, llama.cpp server, TGI,
the bundled reference engine) by base URL and the engine's own model name.
Capabilities drive the support matrix's run-time rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from gateway.config_errors import ConfigError, read_yaml

Category = Literal[
    "text", "code", "reasoning", "multimodal", "embeddings", "image", "audio", "video"
]
Capability = Literal["tool_use", "structured_output", "vision", "prompt_caching"]


class Engine(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    base_url: str  # up to and including /v1, e.g. http://127.0.0.1:8000/v1


NonNegative = Annotated[float, Meta(ge=0)]
Positive = Annotated[int, Meta(gt=0)]


class Prices(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """USD per million tokens: what the catalog page shows and usage is charged at."""

    input_per_mtok: NonNegative
    output_per_mtok: NonNegative
    cached_input_per_mtok: NonNegative | None = None  # None: cached input costs as input


class Model(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: str
    category: Category
    engine: str
    upstream_model: str
    capabilities: frozenset[Capability] = frozenset()
    owned_by: str = "gateway"
    created: int = 0
    context_length: Positive | None = None  # tokens, as the engine serves the model
    dimensions: Positive | None = None  # of an embeddings model's vectors
    prices: Prices | None = None


class Catalog(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    engines: dict[str, Engine]
    models: list[Model]


class IndexedCatalog:
    """A catalog with its lookups built once (the request path reads it per request)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.models = {m.id: m for m in catalog.models}
        self.base_urls = {
            m.id: catalog.engines[m.engine].base_url.rstrip("/") for m in catalog.models
        }

    def model(self, model_id: str) -> Model | None:
        return self.models.get(model_id)


def load_catalog(path: Path) -> IndexedCatalog:
    try:
        catalog = msgspec.convert(read_yaml(path, "model catalog"), Catalog)
    except msgspec.ValidationError as error:
        raise ConfigError(path, str(error)) from None
    _check(catalog, path)
    return IndexedCatalog(catalog)


def _check(catalog: Catalog, path: Path) -> None:
    seen: set[str] = set()
    for model in catalog.models:
        if model.id in seen:
            raise ConfigError(path, f"model {model.id!r} is listed twice")
        seen.add(model.id)
        if model.engine not in catalog.engines:
            known = ", ".join(sorted(catalog.engines)) or "none"
            raise ConfigError(
                path, f"model {model.id!r} names engine {model.engine!r}; engines: {known}"
            )
    for name, engine in catalog.engines.items():
        if not engine.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                path, f"engine {name!r}: base_url must be http(s)://, got {engine.base_url!r}"
            )
