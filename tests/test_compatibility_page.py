"""The generated compatibility page: snapshot, the published page's substance, anchors, lists."""

from __future__ import annotations

import importlib
import json
import re
import typing
from html.parser import HTMLParser
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from gateway.anchors import TOPICS, field_anchor, param_anchor
from gateway.errors import RequestValidationError
from generated.validators import BY_ENDPOINT
from generator.emit_docs import EXAMPLE_DOC_BASE_URL, SAMPLE_ENDPOINT, SAMPLES, Sample
from generator.matrix import Matrix, load_matrix
from generator.regen import GENERATED, MATRIX

PAGE_MD = GENERATED / "compatibility.md"
PAGE_HTML = GENERATED / "compatibility.html"

# The page our users publish today, verbatim as copied from the browser (so inline
# code lost its spaces, and the text stops where it introduces `doc_url`).
PUBLISHED = """\
api.openai.com works by changing only base_url and model.
Spec version we track
The chat-completions request validator at our gateway is authored againstopenai-python 1.109.1 — specifically the request shape openai.types.chat.completion_create_params.CompletionCreateParamsBase. That same version is pinned in our gateway image, so the SDK you call against and the shape we validate can’t drift apart silently.
We validate a focused subset of the SDK’s surface — the fields where validation gaps were causing real problems (off-spec inputs returning 200 with garbage, or 500 with a stack trace). Unknown or unsupported fields are forwarded to the engine and accepted or rejected there. The matrix below is the exact subset.
Bumps are deliberate: when we upgrade the pin, a snapshot test fails until we audit the SDK diff, and we update this page in the same PR.
Endpoints
| Endpoint | Supported | Notes |
|---|---|---|
POST /v1/chat/completions | Yes | Streaming, tools, vision (on multimodal models), seed, response_format. |
POST /v1/completions | Yes | Legacy; prefer chat completions for new integrations. |
GET /v1/models | Yes | Lists every live model across all modalities — text, code, reasoning, multimodal, embeddings, image, audio, video — in OpenAI’s Model shape, each annotated with a category field so you can pick the matching endpoint. Only models currently serving appear. See model discovery for the category→endpoint mapping, or the catalog for the full roster with pricing. |
POST /v1/embeddings | Yes | bge-m3 (multilingual, 1024-dim, 8K context). encoding_format is optional and defaults to "float"; "base64" is also accepted. (Pass "float" or omit the field — don’t send an explicit null.) See the model catalog. |
POST /v1/fine-tuning | No | Use FlexAI Fine-Tuning instead. |
POST /v1/assistants, /v1/threads, /v1/runs | No | Not planned. |
POST /v1/batches | No | Not supported — use client-side fan-out instead. See Batching. |
GET /v1/files, /v1/files/* | No | Use inline request payloads. |
Request fields
Field on POST /v1/chat/completions | Supported | Notes |
|---|---|---|
model, messages, temperature, top_p, max_tokens, stop, seed, user | Yes | — |
stream, stream_options.include_usage | Yes | Set include_usage: true when streaming for correct billing. |
tools, tool_choice | Yes | On models labeled tool_use in the catalog. |
response_format: { type: "json_object" } | Yes | On most text models. |
response_format: { type: "json_schema", ... } | Partial | Supported where the underlying model supports it; falls back to json_object otherwise. |
logprobs, top_logprobs | No | Not at launch. |
n (multiple completions per request) | No | Gateway returns a single choice; sending n > 1 returns a 400 with param: "n". |
presence_penalty, frequency_penalty | Yes | — |
Response fields
| Field | Supported | Notes |
|---|---|---|
id, created, model, choices, usage | Yes | — |
usage.cache_read_input_tokens, usage.cache_creation_input_tokens | Yes | Zero on models without prompt caching; populated for cache-capable models. |
system_fingerprint | No | Not exposed. |
Authentication & headers
- Bearer tokens only (
Authorization: Bearer sk-…). No OAuth, no organization header. - Our rate limit response includes
Retry-Afterand
x-ratelimit-* headers — see errors. - CORS is restricted; the API is intended for server-to-server calls, not browsers.
Error shape
Errors use OpenAI’s envelope —{ "error": { "message", "type", … } } — in two flavors.
Request-validation failures (400) come back verbatim in OpenAI’s shape, with param set to the offending field path (or null when it isn’t field-specific) and code set to null — we reserve non-null code strings the way OpenAI does, for a narrow documented set like context_length_exceeded:
doc_url extension so your first failure points you at the dashboard:
"""  # noqa: E501, RUF001 - a verbatim copy: its long lines and typographic quotes are the content
# Deliberate differences, each with its reason.
CORRECTIONS = {
    # The endpoint row lists both spellings of the fine-tuning path since the matrix added one.
    "POST /v1/fine-tuning | No": "POST /v1/fine-tuning, /v1/fine_tuning/jobs | No",
    # `doc_url` links to this page's anchors, not to a dashboard (matrix errors.doc_url).
    "points you at the dashboard:": "points you at the documentation:",
}


# ---------------------------------------------------------------- reading the page


def markdown_text(markdown: str) -> str:
    """What a reader sees of the Markdown: no markers, anchors, link targets or fences."""
    lines = []
    in_fence = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:  # code is shown as is: a `# comment` is no heading
            lines.append(line)
            continue
        if line.startswith("<!--") or re.fullmatch(r"\|?(-+\|)+-*", line):
            continue
        line = re.sub(r"^(#+|-)\s+", "", line)
        line = re.sub(r"</?a\b[^>]*>", "", line)
        line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)
        lines.append(line.replace("`", "").replace("\\|", "|"))
    return "\n".join(lines)


def squash(text: str) -> str:
    """Text compared without whitespace or table pipes, which rendering moves around."""
    return re.sub(r"[\s|]+", "", text)


class RenderedPage(HTMLParser):
    """The HTML's element ids, visible body text, and forwarded-field lists."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.forwarded: dict[str, list[str]] = {}
        self._text: list[str] = []
        self._in_body = False
        self._skip = 0
        self._forwarded_key: str | None = None
        self._in_code = False
        self.feed(html)
        self.close()

    @property
    def text(self) -> str:
        return "".join(self._text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.append(str(attributes["id"]))
        if tag == "body":
            self._in_body = True
        elif tag in ("style", "script", "title"):
            self._skip += 1
        elif tag == "code":
            self._in_code = True
        if attributes.get("data-forwarded"):
            self._forwarded_key = str(attributes["data-forwarded"])
            self.forwarded[self._forwarded_key] = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title"):
            self._skip -= 1
        elif tag == "code":
            self._in_code = False
        elif tag == "p":
            self._forwarded_key = None

    def handle_data(self, data: str) -> None:
        if self._in_body and not self._skip:
            self._text.append(data)
        if self._forwarded_key is not None and self._in_code:
            self.forwarded[self._forwarded_key].append(data)


def published_sentences() -> list[str]:
    """The published page cut into squashed sentences, in order, corrections applied."""
    text = PUBLISHED
    for old, new in CORRECTIONS.items():
        text = text.replace(old, new)
    # The copy names the SDK of its day; the page must name the pin (sdk.version), whatever it is.
    text = re.sub(r"(?<=openai-python )\d+(\.\d+)+", matrix().sdk.version, text)
    sentences = []
    for line in text.splitlines():
        if re.fullmatch(r"\|?(-+\|)+", line):
            continue
        for sentence in re.split(r"(?<=\.)\s+", line):
            # The copy ends mid-sentence with a colon where an example followed.
            squashed = squash(re.sub(r"^-\s+", "", sentence)).rstrip(":")
            if squashed:
                sentences.append(squashed)
    return sentences


def matrix() -> Matrix:
    return load_matrix(MATRIX)[0]


def emitted_anchors() -> set[str]:
    """Every anchor a gateway error can carry in its `doc_url`."""
    anchors = set(TOPICS) | {"errors"}
    for validator in BY_ENDPOINT.values():
        anchors.add(param_anchor(validator.endpoint, None))
        anchors.update(param_anchor(validator.endpoint, f.name) for f in validator.schema.fields)
        anchors.update(check.anchor for check in validator.checks)  # the later checks' own
    spec = matrix()
    for endpoint in spec.request_endpoints:
        anchors.update(param_anchor(endpoint.key, name) for name in endpoint.validated)
    for rule in spec.rules:  # gateway/validation/rules.py points at the rule's field
        anchors.update(field_anchor(rule.endpoint, name) for name in rule.fields)
    return anchors


@pytest.fixture(scope="module")
def page_md() -> str:
    return PAGE_MD.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page_html() -> RenderedPage:
    return RenderedPage(PAGE_HTML.read_text(encoding="utf-8"))


class MarkdownSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "md"


# ---------------------------------------------------------------- tests


def test_markdown_page_matches_snapshot(page_md: str, snapshot: SnapshotAssertion) -> None:
    """Any change to the page shows up as a snapshot diff to review."""
    assert page_md == snapshot.use_extension(MarkdownSnapshot)


@pytest.mark.parametrize("kind", ["md", "html"])
def test_page_says_everything_the_published_page_says_in_order(
    kind: str, page_md: str, page_html: RenderedPage
) -> None:
    """Each sentence and table row of the published page appears, in the published order."""
    page = squash(markdown_text(page_md) if kind == "md" else page_html.text)
    position = 0
    for sentence in published_sentences():
        found = page.find(sentence, position)
        assert found >= 0, f"missing (or out of order) on the {kind} page: {sentence!r}"
        position = found


def test_markdown_and_html_say_the_same_thing(page_md: str, page_html: RenderedPage) -> None:
    """Both files render one page model; their visible text must not drift apart."""
    assert squash(markdown_text(page_md)) == squash(page_html.text)


def test_every_anchor_an_error_can_carry_exists_in_the_html(page_html: RenderedPage) -> None:
    """A `doc_url` from any validator, rule or topic lands on an element of the page."""
    missing = sorted(emitted_anchors() - set(page_html.ids))
    assert missing == []


def test_html_element_ids_are_unique(page_html: RenderedPage) -> None:
    assert len(page_html.ids) == len(set(page_html.ids))


def test_every_validated_field_has_its_anchor_in_the_markdown(page_md: str) -> None:
    for endpoint in matrix().request_endpoints:
        for name in endpoint.validated:
            assert f'<a id="{field_anchor(endpoint.key, name)}"></a>' in page_md


def sdk_root_fields(module: str, classes: tuple[str, ...]) -> set[str]:
    """The request fields the SDK declares, read from its classes without the generator."""
    loaded = importlib.import_module(module)
    return {name for cls in classes for name in typing.get_type_hints(getattr(loaded, cls))}


def test_forwarded_list_is_the_sdk_fields_minus_the_validated_ones(
    page_html: RenderedPage,
) -> None:
    endpoints = matrix().request_endpoints
    assert sorted(page_html.forwarded) == sorted(e.key for e in endpoints)
    for endpoint in endpoints:
        assert endpoint.request is not None
        declared = sdk_root_fields(endpoint.request.module, endpoint.request.classes)
        expected = sorted(declared - set(endpoint.validated))
        assert page_html.forwarded[endpoint.key] == expected, endpoint.key


def committed_error_body(body: bytes) -> dict[str, Any]:
    try:
        BY_ENDPOINT[SAMPLE_ENDPOINT].validate(body)
    except RequestValidationError as error:
        return error.envelope(EXAMPLE_DOC_BASE_URL)
    raise AssertionError(f"accepted: {body!r}")


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.kind for s in SAMPLES])
def test_example_error_bodies_are_what_the_committed_validators_answer(
    sample: Sample, page_md: str
) -> None:
    """The examples were produced by regen's in-memory validators: the committed ones agree."""
    body = json.dumps(committed_error_body(sample.body), indent=2, ensure_ascii=False)
    assert f"```text\n{sample.body.decode()}\n```" in page_md
    assert f"```json\n{body}\n```" in page_md


def test_examples_cover_every_kind_of_validation_failure() -> None:
    kinds = {s.kind for s in SAMPLES}
    assert kinds == {
        "wrong-type",
        "missing",
        "invalid-value",
        "out-of-range",
        "empty-array",
        "array-too-long",
        "string-too-long",
        "invalid-json",
        "not-an-object",
    }


def test_page_is_self_contained(page_html: RenderedPage) -> None:
    """No external stylesheet, script, image or font: the gateway serves one file.

    Links go to anchors of the page or to the gateway's own OpenAPI document.
    """
    html = PAGE_HTML.read_text(encoding="utf-8")
    assert not re.search(r"<(link|script|img|iframe)\b", html)
    assert "url(" not in html
    # Links lead within the page, or to the catalog page and the OpenAPI document
    # the same gateway serves.
    assert not re.search(r'(src|href)="(?!#|/docs/catalog"|/openapi\.json")', html)


def test_published_copy_is_exercised() -> None:
    """Guards the check above against a regex that silently drops the published text."""
    sentences = published_sentences()
    assert len(sentences) > 40
    assert squash("Spec version we track") in sentences
