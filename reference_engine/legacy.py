"""Legacy completions (/v1/completions): an echo per prompt, complete or chunked."""

from __future__ import annotations

from reference_engine.prompts import Prompt
from reference_engine.text import stream_pieces, truncate_words, usage, word_count
from reference_engine.wire import JSON, with_usage_chunk


def completion_text(prompt: Prompt, limit: int | None) -> tuple[str, str]:
    text, cut = truncate_words(f"Echo: {prompt.text}", limit)
    return text, "length" if cut else "stop"


def text_choice(index: int, text: str, finish_reason: str | None) -> JSON:
    return {"text": text, "index": index, "logprobs": None, "finish_reason": finish_reason}


def legacy_completion(base: JSON, prompts: list[Prompt], limit: int | None) -> JSON:
    texts = [completion_text(p, limit) for p in prompts]
    choices = [text_choice(i, text, reason) for i, (text, reason) in enumerate(texts)]
    prompt_tokens = sum(p.tokens for p in prompts)
    completion_tokens = sum(word_count(text) for text, _ in texts)
    return {**base, "choices": choices, "usage": usage(prompt_tokens, completion_tokens)}


def legacy_chunks(
    base: JSON, prompts: list[Prompt], limit: int | None, include: bool
) -> list[JSON]:
    chunks: list[JSON] = []
    completion_tokens = 0
    for index, prompt in enumerate(prompts):
        text, reason = completion_text(prompt, limit)
        completion_tokens += word_count(text)
        chunks += [{**base, "choices": [text_choice(index, p, None)]} for p in stream_pieces(text)]
        chunks.append({**base, "choices": [text_choice(index, "", reason)]})
    totals = usage(sum(p.tokens for p in prompts), completion_tokens)
    return with_usage_chunk(chunks, base, totals, include)
