"""GET /docs/catalog: the running configuration's models, escaped, agreeing with the page."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.catalog import Catalog, Engine, IndexedCatalog, Model, Prices, load_catalog
from gateway.config_errors import ConfigError
from gateway.http.catalog_page import COLUMNS, render_catalog, usd
from generated.routes import ENDPOINTS_BY_CATEGORY
from generator.matrix import load_matrix
from generator.regen import MATRIX, ROOT

EXAMPLE_CATALOG = ROOT / "config" / "catalog.yaml"
StartGateway = Callable[[Mapping[str, str]], AbstractContextManager[str]]


class CatalogTable(HTMLParser):
    """The rows of the catalog page's table: model id -> {column: cell text}."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, dict[str, str]] = {}
        self.hrefs: list[str] = []
        self._model: str | None = None
        self._cells: list[str] = []
        self._in_cell = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "tr" and attributes.get("data-model") is not None:
            self._model, self._cells = str(attributes["data-model"]), []
        elif tag == "td" and self._model is not None:
            self._in_cell = True
            self._cells.append("")
        elif tag == "br" and self._in_cell:
            self._cells[-1] += "\n"
        elif tag == "a" and attributes.get("href"):
            self.hrefs.append(str(attributes["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_cell = False
        elif tag == "tr" and self._model is not None:
            self.rows[self._model] = dict(zip(COLUMNS, self._cells, strict=True))
            self._model = None

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self._cells[-1] += data


def one_model_catalog(model: Model) -> IndexedCatalog:
    return IndexedCatalog(
        Catalog(engines={"e": Engine(base_url="http://127.0.0.1:1/v1")}, models=[model])
    )


def test_every_value_rendered_into_the_page_is_html_escaped() -> None:
    model = Model(
        id='x<script>alert("1")</script>&', category="text", engine="e", upstream_model="u"
    )
    html = render_catalog(
        one_model_catalog(model), frozenset(), ENDPOINTS_BY_CATEGORY, 'http://h/"><b>'
    )
    assert "<script>" not in html
    assert "<b>" not in html
    assert "x&lt;script&gt;alert(&quot;1&quot;)&lt;/script&gt;&amp;" in html
    table = CatalogTable(html)
    assert list(table.rows) == [model.id]  # the parser decodes it back to the id
    assert table.hrefs == ['http://h/"><b>#model-discovery']


def test_page_shows_context_length_dimensions_and_prices_when_set() -> None:
    prices = Prices(input_per_mtok=0.15, output_per_mtok=0.6, cached_input_per_mtok=0.075)
    model = Model(
        id="m",
        category="embeddings",
        engine="e",
        upstream_model="u",
        context_length=8192,
        dimensions=1024,
        prices=prices,
    )
    row = CatalogTable(
        render_catalog(one_model_catalog(model), frozenset({"e"}), ENDPOINTS_BY_CATEGORY, "u")
    ).rows["m"]
    assert row["Context length"] == "8,192"
    assert row["Dimensions"] == "1,024"
    assert row["Input, USD / 1M tokens"] == "$0.15"
    assert row["Cached input, USD / 1M tokens"] == "$0.075"
    assert row["Output, USD / 1M tokens"] == "$0.60"
    assert row["Endpoints"] == "POST /v1/embeddings"
    assert row["Serving now"] == "Yes"


def test_cached_input_without_its_own_price_costs_as_input() -> None:
    model = Model(
        id="m",
        category="text",
        engine="e",
        upstream_model="u",
        prices=Prices(input_per_mtok=2.5, output_per_mtok=10),
    )
    row = CatalogTable(
        render_catalog(one_model_catalog(model), frozenset(), ENDPOINTS_BY_CATEGORY, "u")
    ).rows["m"]
    assert row["Cached input, USD / 1M tokens"] == "$2.50"
    assert (row["Serving now"], row["Context length"], row["Labels"]) == ("No", "—", "—")


@pytest.mark.parametrize(("value", "text"), [(0, "$0.00"), (0.075, "$0.075"), (12, "$12.00")])
def test_usd_shows_cents_and_more_digits_only_when_the_price_has_them(
    value: float, text: str
) -> None:
    assert usd(value) == text


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"prices": {"input_per_mtok": -1, "output_per_mtok": 0}}, "Expected `float` >= 0"),
        ({"prices": {"input_per_mtok": 1}}, "missing required field `output_per_mtok`"),
        ({"prices": {"input_per_mtok": 1, "output_per_mtok": 1, "cache": 1}}, "unknown field"),
        ({"context_length": 0}, "Expected `int` >= 1"),
    ],
)
def test_bad_context_length_or_prices_stop_start_up_with_the_file(
    tmp_path: Path, extra: dict[str, object], problem: str
) -> None:
    model = {"id": "m", "category": "text", "engine": "e", "upstream_model": "u", **extra}
    catalog = {"engines": {"e": {"base_url": "http://127.0.0.1:1/v1"}}, "models": [model]}
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog))
    with pytest.raises(ConfigError) as error:
        load_catalog(path)
    assert str(path) in str(error.value)
    assert problem in str(error.value)


def test_example_catalog_bge_m3_agrees_with_the_embeddings_row_of_the_page() -> None:
    """The page says "bge-m3 (multilingual, 1024-dim, 8K context)"; the catalog says the same."""
    notes = load_matrix(MATRIX)[0].endpoint("embeddings").notes
    found = re.search(r"bge-m3 \(multilingual, (\d+)-dim, (\d+)K context\)", notes)
    assert found is not None
    bge = load_catalog(EXAMPLE_CATALOG).model("bge-m3")
    assert bge is not None
    assert bge.category == "embeddings"
    assert bge.dimensions == int(found[1])
    assert bge.context_length == int(found[2]) * 1024


# ---------------------------------------------------------------- end to end


def catalog_page(base_url: str) -> tuple[httpx.Response, CatalogTable]:
    answer = httpx.get(f"{base_url}/docs/catalog", timeout=10)
    return answer, CatalogTable(answer.text)


@pytest.mark.e2e
def test_catalog_page_lists_every_model_of_the_running_configuration_without_a_key(
    gateway_url: str, catalog_models: dict[str, str]
) -> None:
    answer, table = catalog_page(gateway_url)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert sorted(table.rows) == sorted(catalog_models)
    for model_id, category in catalog_models.items():
        row = table.rows[model_id]
        assert row["Category"] == category
        assert row["Endpoints"].split("\n") == list(ENDPOINTS_BY_CATEGORY[category]), model_id


@pytest.mark.e2e
def test_catalog_page_says_which_models_are_serving_now_as_the_model_list_does(
    gateway_url: str, local_key: str
) -> None:
    _, table = catalog_page(gateway_url)
    listed = httpx.get(
        f"{gateway_url}/v1/models", headers={"Authorization": f"Bearer {local_key}"}, timeout=10
    ).json()["data"]
    serving = sorted(
        model_id for model_id, row in table.rows.items() if row["Serving now"] == "Yes"
    )
    assert serving == sorted(m["id"] for m in listed)
    assert table.rows["offline-model"]["Serving now"] == "No"
    assert table.rows["chat-full"]["Labels"] == "prompt_caching, structured_output, tool_use"


@pytest.fixture(scope="module")
def priced_gateway(
    start_gateway: StartGateway, gateway_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A gateway whose catalog sets context length, dimensions and prices on embed-model."""
    directory = tmp_path_factory.mktemp("priced_config")
    for name in ("gateway.yaml", "keys.yaml"):
        (directory / name).write_bytes((gateway_config.parent / name).read_bytes())
    catalog = yaml.safe_load((gateway_config.parent / "catalog.yaml").read_text())
    for model in catalog["models"]:
        if model["id"] == "embed-model":
            model.update(
                context_length=8192,
                dimensions=1024,
                prices={"input_per_mtok": 0.02, "output_per_mtok": 0},
            )
    (directory / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    with start_gateway({"GATEWAY_CONFIG": str(directory / "gateway.yaml")}) as url:
        yield url


@pytest.mark.e2e
def test_catalog_page_shows_the_prices_and_context_length_of_its_own_catalog(
    priced_gateway: str,
) -> None:
    _, table = catalog_page(priced_gateway)
    row = table.rows["embed-model"]
    assert (row["Context length"], row["Dimensions"]) == ("8,192", "1,024")
    assert (row["Input, USD / 1M tokens"], row["Output, USD / 1M tokens"]) == ("$0.02", "$0.00")
    assert table.rows["chat-full"]["Input, USD / 1M tokens"] == "—"
