"""The real API's error wording, in one place (see the field guide, section 2)."""

from __future__ import annotations

from typing import Any

from gateway.validation.schema import AnyJson, Array, Enum, Map, Node, Null, Object, OneOf, Scalar

PARSE_ERROR = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please contact "
    "us through our help center at help.openai.com.)"
)
TOO_DEEP = (
    "We could not parse the JSON body of your request: it is nested too deeply. "
    "Flatten the payload and try again."
)

_SCALAR_NOUNS = {
    "string": "string",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
}


def got(value: Any) -> str:
    """How the real API names the JSON kind it received."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _noun(node: Node, plural: bool = False) -> str:
    """`string` / `strings`, `array of objects`: a kind without its article."""
    if isinstance(node, Scalar):
        noun = _SCALAR_NOUNS[node.kind]
    elif isinstance(node, Enum):
        noun = "string" if all(isinstance(v, str) for v in node.values) else "value"
    elif isinstance(node, Object | Map):
        noun = "object"
    elif isinstance(node, Array):
        inner = _noun(node.items, plural=True)
        return f"arrays of {inner}" if plural else f"array of {inner}"
    elif isinstance(node, OneOf):
        nouns = {_noun(o) for o in node.options if not isinstance(o, Null)}
        noun = nouns.pop() if len(nouns) == 1 else "value"
    else:
        noun = "value"
    return f"{noun}s" if plural else noun


def _article(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def expected(node: Node) -> str:
    """`a string`, `an array of objects`, `one of a string or array of strings`."""
    if isinstance(node, OneOf):
        nouns = list(dict.fromkeys(_noun(o) for o in node.options if not isinstance(o, Null)))
        if len(nouns) == 1:
            return _article(nouns[0])
        head = [_article(nouns[0]), *nouns[1:-1]]
        return f"one of {', '.join(head)} or {nouns[-1]}"
    if isinstance(node, AnyJson):
        return "any JSON value"
    return _article(_noun(node))


def wrong_type(path: str, expectation: str, value: Any) -> str:
    return f"Invalid type for '{path}': expected {expectation}, but got {got(value)} instead."


def missing(path: str) -> str:
    return f"Missing required parameter: '{path}'."


def _quoted_list(values: tuple[Any, ...]) -> str:
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def invalid_value(value: Any, supported: tuple[Any, ...]) -> str:
    return f"Invalid value: '{value}'. Supported values are: {_quoted_list(supported)}."


def number_text(value: float) -> str:
    """`2` for a whole bound, `0.5` otherwise: how the real API prints limits."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


def out_of_range(
    path: str, kind: str, value: float, minimum: float | None, maximum: float | None
) -> str | None:
    noun = _SCALAR_NOUNS[kind]
    if minimum is not None and value < minimum:
        return (
            f"Invalid '{path}': {noun} below minimum value. Expected a value >= "
            f"{number_text(minimum)}, but got {value} instead."
        )
    if maximum is not None and value > maximum:
        return (
            f"Invalid '{path}': {noun} above maximum value. Expected a value <= "
            f"{number_text(maximum)}, but got {value} instead."
        )
    return None


def array_size(path: str, length: int, min_items: int | None, max_items: int | None) -> str | None:
    if min_items is not None and length < min_items:
        if length == 0:
            return (
                f"Invalid '{path}': empty array. Expected an array with minimum length "
                f"{min_items}, but got an empty array instead."
            )
        return (
            f"Invalid '{path}': array too short. Expected an array with minimum length "
            f"{min_items}, but got an array with length {length} instead."
        )
    if max_items is not None and length > max_items:
        return (
            f"Invalid '{path}': array too long. Expected an array with maximum length "
            f"{max_items}, but got an array with length {length} instead."
        )
    return None


def string_too_long(path: str, length: int, max_length: int) -> str:
    return (
        f"Invalid '{path}': string too long. Expected a string with maximum length "
        f"{max_length}, but got a string with length {length} instead."
    )


def too_many_properties(path: str, count: int, max_properties: int) -> str:
    return (
        f"Invalid '{path}': object too large. Expected an object with at most "
        f"{max_properties} properties, but got an object with {count} properties instead."
    )


def body_not_object(value: Any) -> str:
    return f"Invalid type for request body: expected an object, but got {got(value)} instead."
