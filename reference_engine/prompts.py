"""Legacy-completion and embedding inputs: a string, strings or token arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reference_engine.text import word_count
from reference_engine.wire import ENCODER, EngineError


@dataclass(frozen=True)
class Prompt:
    """One legacy-completion or embedding input: its echo text, token count and hash key."""

    text: str
    tokens: int
    key: bytes


def text_prompt(text: str) -> Prompt:
    return Prompt(text, word_count(text), text.encode())


def token_prompt(tokens: list[int]) -> Prompt:
    return Prompt(" ".join(map(str, tokens)), len(tokens), b"tokens:" + ENCODER.encode(tokens))


def is_token_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in value
    )


def parse_prompts(value: Any, param: str) -> list[Prompt]:
    """A string, strings, one token array or token arrays: one Prompt per input."""
    if isinstance(value, str):
        return [text_prompt(value)]
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return [text_prompt(v) for v in value]
        if is_token_list(value):
            return [token_prompt(value)]
        if all(is_token_list(v) and v for v in value):
            return [token_prompt(v) for v in value]
    raise EngineError(
        400, f"{param} must be a string, array of strings or token arrays", param=param
    )
