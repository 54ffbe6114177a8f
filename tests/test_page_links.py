"""Cross-references of the compatibility page: every one is a link, and every link lands."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_compatibility_page import PAGE_HTML, PAGE_MD  # tests/ is on sys.path, as for mypy

from generator.errors import GeneratorError
from generator.links import SERVED_DOCUMENTS
from generator.regen import MATRIX, load_inputs

# The published page's cross-references, and where each must lead.
PUBLISHED_REFERENCES = {
    "See model discovery": "#model-discovery",
    "the catalog": "/docs/catalog",
    "See the model catalog": "#model-catalog",
    "See Batching": "#batching",
    "see errors": "#errors",
}
_MD_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
_MD_ANCHOR = re.compile(r'<a id="([^"]+)"></a>')


class Links(HTMLParser):
    """The HTML's element ids and the targets of its <a href> elements."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "a" and attributes.get("href") is not None:
            self.hrefs.append(str(attributes["href"]))


def prose_lines(markdown: str) -> list[str]:
    """The Markdown's lines outside code fences."""
    lines, in_fence = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence:
            lines.append(line)
    return lines


def dangling(hrefs: list[str], ids: set[str]) -> list[str]:
    """The link targets that are neither an id of the page nor a docs page of the gateway."""
    return sorted(
        {h for h in hrefs if h.removeprefix("#") not in ids and h not in SERVED_DOCUMENTS} - {""}
    )


@pytest.fixture(scope="module")
def markdown() -> str:
    return PAGE_MD.read_text(encoding="utf-8")


def test_every_markdown_link_leads_to_an_anchor_of_the_page_or_a_docs_page(
    markdown: str,
) -> None:
    prose = "\n".join(prose_lines(markdown))
    hrefs = [target for _, target in _MD_LINK.findall(prose)]
    assert len(hrefs) > 40  # the validated-field links and the cross-references
    assert all(h.startswith("#") or h in SERVED_DOCUMENTS for h in hrefs)
    assert dangling(hrefs, set(_MD_ANCHOR.findall(markdown))) == []


def test_every_html_link_leads_to_an_element_of_the_page_or_a_docs_page() -> None:
    page = Links(PAGE_HTML.read_text(encoding="utf-8"))
    assert len(page.hrefs) > 40
    assert dangling(page.hrefs, page.ids) == []


def test_dangling_check_catches_a_missing_anchor() -> None:
    """Guards the two checks above: a link to nowhere is reported."""
    assert dangling(["#batching", "#nowhere", "/docs/catalog", "/docs/x"], {"batching"}) == [
        "#nowhere",
        "/docs/x",
    ]


@pytest.mark.parametrize("phrase", sorted(PUBLISHED_REFERENCES))
def test_each_reference_of_the_published_page_is_a_link_to_its_section(
    phrase: str, markdown: str
) -> None:
    assert f"[{phrase}]({PUBLISHED_REFERENCES[phrase]})" in markdown
    html = PAGE_HTML.read_text(encoding="utf-8")
    assert f'<a href="{PUBLISHED_REFERENCES[phrase]}">{phrase}</a>' in html


def test_no_see_reference_in_the_page_prose_is_left_as_plain_text(markdown: str) -> None:
    """Every "see …" the page makes is the text of a link."""
    plain = [
        line for line in prose_lines(markdown) if re.search(r"\b[Ss]ee\b", _MD_LINK.sub("", line))
    ]
    assert plain == []


def matrix_copy(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """The matrix with `old` replaced (once) in a temporary directory; the replaced line."""
    text = MATRIX.read_text(encoding="utf-8")
    assert text.count(old) == 1
    copy = tmp_path / "support_matrix.yaml"
    copy.write_text(text.replace(old, new), encoding="utf-8")
    shutil.copytree(MATRIX.parent / "examples", tmp_path / "examples")
    return copy, text[: text.index(old)].count("\n") + 1


def test_regen_stops_at_file_and_line_on_a_link_to_a_missing_anchor(tmp_path: Path) -> None:
    path, line = matrix_copy(tmp_path, "{See Batching: batching}", "{See Batching: batchin}")
    with pytest.raises(GeneratorError) as error:
        load_inputs(path)
    message = str(error.value)
    assert message.startswith(f"{path}:{line}: link 'See Batching' points at 'batchin'")
    assert "did you mean 'batching'?" in message


def test_regen_stops_on_a_link_whose_phrase_is_not_in_its_text(tmp_path: Path) -> None:
    path, line = matrix_copy(tmp_path, "{see errors: errors}", "{see error shape: errors}")
    with pytest.raises(GeneratorError, match=rf"^{re.escape(str(path))}:{line}: link 'see error"):
        load_inputs(path)


def test_regen_stops_on_a_section_example_that_does_not_exist(tmp_path: Path) -> None:
    path, line = matrix_copy(tmp_path, "example: examples/batching.py", "example: gone.py")
    with pytest.raises(GeneratorError, match=rf":{line}: example file 'gone.py' does not exist"):
        load_inputs(path)
