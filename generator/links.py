"""Cross-references of the compatibility page: declared in the matrix, checked at regen.

A `links:` map next to a text ("See Batching": batching) makes that phrase a
link to an anchor of the page, or to another docs page the gateway serves.
`check_links` stops regen, with the matrix's file and line, on a phrase the
text does not hold or on a target that does not exist; `linked` writes the
text with Markdown links, which the HTML template turns into <a> elements.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from generator.errors import GeneratorError
from generator.matrix import Links, Matrix, Prose, suggest
from generator.yaml_lines import Location, nearest_line

# Docs pages other than the compatibility page, served by the generated routes.
CATALOG_PAGE = "/docs/catalog"
DOC_PAGES = (CATALOG_PAGE,)
OPENAPI_DOCUMENT = "/openapi.json"
# What a link of the page may lead to besides its own anchors.
SERVED_DOCUMENTS = (*DOC_PAGES, OPENAPI_DOCUMENT)


def linked(text: str, links: Mapping[str, str]) -> str:
    """`text` with each declared phrase (its first occurrence) as a Markdown link."""
    for phrase, target in sorted(links.items()):
        href = target if target.startswith("/") else f"#{target}"
        text = text.replace(phrase, f"[{phrase}]({href})", 1)
    return text


def prose(item: str | Prose) -> Prose:
    return item if isinstance(item, Prose) else Prose(text=item)


def linked_texts(matrix: Matrix) -> Iterator[tuple[Location, str, Links]]:
    """Every text of the matrix that may carry links: where its `links` are, text, links."""
    for e_index, endpoint in enumerate(matrix.endpoints):
        yield ("endpoints", e_index, "links"), endpoint.notes, endpoint.links
        for r_index, row in enumerate(endpoint.rows):
            yield ("endpoints", e_index, "rows", r_index, "links"), row.notes, row.links
    for index, row in enumerate(matrix.response_fields):
        yield ("response_fields", index, "links"), row.notes, row.links
    for index, item in enumerate(matrix.authentication):
        bullet = prose(item)
        yield ("authentication", index, "links"), bullet.text, bullet.links
    for key in ("model_catalog", "batching"):
        section = getattr(matrix, key)
        for index, paragraph in enumerate(section.paragraphs):
            yield (key, "paragraphs", index, "links"), paragraph.text, paragraph.links


def check_links(
    matrix: Matrix, anchors: Collection[str], path: Path, lines: dict[Location, int]
) -> None:
    """Stop regen at the first link whose phrase is not in its text or whose target is missing."""
    targets = sorted({*anchors, *SERVED_DOCUMENTS})
    for where, text, links in linked_texts(matrix):
        for phrase, target in links.items():
            line = nearest_line(lines, (*where, phrase))
            if phrase not in text:
                raise GeneratorError(
                    f"{path}:{line}: link '{phrase}' does not occur in its text: {text!r}"
                )
            if target not in targets:
                raise GeneratorError(
                    f"{path}:{line}: link '{phrase}' points at '{target}', which is no anchor "
                    f"of the compatibility page nor a docs page{suggest(target, targets)}"
                )


def check_examples(matrix: Matrix, path: Path, lines: dict[Location, int]) -> None:
    """Stop regen on a section whose `example` file does not exist next to the matrix."""
    for key in ("model_catalog", "batching"):
        example = getattr(matrix, key).example
        if example is not None and not (path.parent / example).is_file():
            line = nearest_line(lines, (key, "example"))
            raise GeneratorError(f"{path}:{line}: example file '{example}' does not exist")
