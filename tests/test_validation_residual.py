"""Fields decoded as Any and checked after the decode (unions msgspec cannot express)."""

from __future__ import annotations

from typing import Any

import pytest
from msgspec import UNSET, Struct, UnsetType

from gateway.errors import RequestValidationError
from gateway.validation import schema as s
from gateway.validation.validator import Validator

_ARRAYS = s.OneOf((s.Array(s.Scalar("string")), s.Array(s.Scalar("integer"))))


class _Request(Struct, kw_only=True):
    stop: Any | UnsetType = UNSET


_VALIDATOR = Validator(
    "test",
    _Request,
    s.Object("Request", (s.Field("stop", _ARRAYS, required=False),)),
    residual=(("stop", _ARRAYS),),
)


def test_an_optional_residual_field_that_is_absent_is_not_checked() -> None:
    assert _VALIDATOR.validate(b"{}").stop is UNSET


def test_a_present_residual_field_is_checked_after_the_decode() -> None:
    assert _VALIDATOR.validate(b'{"stop": [1, 2]}').stop == [1, 2]
    with pytest.raises(RequestValidationError) as refused:
        _VALIDATOR.validate(b'{"stop": [1.5]}')
    assert refused.value.param == "stop"
