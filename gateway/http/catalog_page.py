"""GET /docs/catalog: the deployment's own model roster, as an HTML page.

Rendered per request from the running configuration (the catalog this gateway
loaded, its health monitor's view of the engines, the matrix's category ->
endpoint mapping that the generated routes carry), so it cannot disagree with
what the gateway does. It is documentation like /docs/compatibility: no API key,
not counted against a limit, and it shows nothing an operator keeps private
(no engine URLs, no upstream model names). Every value is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from gateway.catalog import IndexedCatalog, Model, Prices
from gateway.http.handlers import Gateway, Handler

NONE = "—"
COLUMNS = (
    "Model",
    "Category",
    "Endpoints",
    "Labels",
    "Serving now",
    "Context length",
    "Dimensions",
    "Input, USD / 1M tokens",
    "Cached input, USD / 1M tokens",
    "Output, USD / 1M tokens",
)
STYLE = (
    "body { font: 16px/1.5 system-ui, sans-serif; max-width: 80rem; margin: 2rem auto; "
    "padding: 0 1rem; color: #1f2328; } "
    "table { border-collapse: collapse; display: block; overflow-x: auto; } "
    "th, td { border: 1px solid #d0d7de; padding: .35rem .6rem; text-align: left; "
    "vertical-align: top; } th { background: #f6f8fa; } "
    "code { font: .875em ui-monospace, monospace; background: #f6f8fa; padding: .1em .3em; }"
)


def catalog_page(gateway: Gateway, endpoints_by_category: Mapping[str, tuple[str, ...]]) -> Handler:
    """The handler of GET /docs/catalog."""

    async def handle(_: Request) -> Response:
        # The page's links are built from configuration, never from the request's Host.
        html = render_catalog(
            gateway.catalog, gateway.health.serving, endpoints_by_category, gateway.docs_url
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    return handle


def render_catalog(
    catalog: IndexedCatalog,
    serving_engines: frozenset[str],
    endpoints_by_category: Mapping[str, tuple[str, ...]],
    compatibility_url: str,
) -> str:
    """The whole page: one table row per catalog model, sorted by id."""
    models = sorted(catalog.models.values(), key=lambda m: m.id)
    rows = "\n".join(
        _row(m, m.engine in serving_engines, endpoints_by_category.get(m.category, ()))
        for m in models
    )
    header = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    back = escape(f"{compatibility_url}#model-discovery")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Model catalog</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        "<h1>Model catalog</h1>\n"
        f"<p>The {len(models)} models this gateway is configured with. Send each model's "
        "requests to the endpoints of its category (see "
        f'<a href="{back}">model discovery</a>); <code>GET /v1/models</code> lists the ones '
        "serving now. Prices are in USD per million tokens, where the catalog sets them.</p>\n"
        f"<table>\n<thead><tr>{header}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>\n"
        "</body>\n</html>\n"
    )


def _row(model: Model, serving: bool, endpoints: tuple[str, ...]) -> str:
    cells = (
        f"<code>{escape(model.id)}</code>",
        f"<code>{escape(model.category)}</code>",
        "<br>".join(escape(e) for e in endpoints) or "None on this gateway yet",
        ", ".join(f"<code>{escape(c)}</code>" for c in sorted(model.capabilities)) or NONE,
        "Yes" if serving else "No",
        _count(model.context_length),
        _count(model.dimensions),
        *_prices(model.prices),
    )
    data = "".join(f"<td>{cell}</td>" for cell in cells)
    return f'<tr data-model="{escape(model.id)}">{data}</tr>'


def _count(value: int | None) -> str:
    return NONE if value is None else f"{value:,}"


def _prices(prices: Prices | None) -> tuple[str, str, str]:
    if prices is None:
        return NONE, NONE, NONE
    cached = prices.cached_input_per_mtok
    return (
        usd(prices.input_per_mtok),
        usd(prices.input_per_mtok if cached is None else cached),
        usd(prices.output_per_mtok),
    )


def usd(value: float) -> str:
    """`$0.15`, `$2.50`, `$0.075`: at least cents, more digits only when the price has them."""
    text = f"{value:.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"
