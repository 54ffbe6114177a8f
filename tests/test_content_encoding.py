"""Request bodies with Content-Encoding: decoded within the size limit, or refused."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator

import pytest

from gateway.errors import ApiError
from gateway.http.content_encoding import read_body

BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
LIMIT = 4096


def too_large(size: int) -> ApiError:
    return ApiError(413, f"too large: {size}")


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def read(data: bytes, encoding: str | None, chunk: int = 7, limit: int = LIMIT) -> bytes:
    return asyncio.run(read_body(_chunks(data, chunk), encoding, limit, too_large))


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("deflate", zlib.compress),  # HTTP's deflate: zlib-wrapped
        ("deflate", raw_deflate),  # what some clients send as deflate
        ("identity", lambda data: data),
        ("gzip, identity", gzip.compress),
        (None, lambda data: data),
    ],
)
def test_supported_encodings_decode_to_the_body(encoding: str | None, encode: object) -> None:
    assert callable(encode)
    for chunk in (1, 7, 10_000):
        assert read(encode(BODY), encoding, chunk) == BODY


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, deflate", "bogus"])
def test_other_encodings_are_415(encoding: str) -> None:
    with pytest.raises(ApiError) as refused:
        read(BODY, encoding)
    assert refused.value.status == 415
    assert refused.value.param is None
    assert encoding in refused.value.message


def test_limit_applies_to_the_decoded_size_and_decoding_stops_just_past_it() -> None:
    bomb = gzip.compress(b" " * (LIMIT * 1000))  # ~4 MB of spaces in a few KB
    assert len(bomb) < LIMIT
    with pytest.raises(ApiError) as refused:
        read(bomb, "gzip", chunk=len(bomb))
    assert refused.value.status == 413
    assert refused.value.message == f"too large: {LIMIT + 1}"  # never more than limit + 1 decoded


def test_body_at_the_limit_decoded_is_accepted() -> None:
    exact = b" " * LIMIT
    assert read(gzip.compress(exact), "gzip") == exact


def test_compressed_size_past_the_limit_is_413_too() -> None:
    with pytest.raises(ApiError) as refused:
        read(b"x" * (LIMIT + 1), None)
    assert refused.value.status == 413


@pytest.mark.parametrize(
    "data",
    [
        b"not gzip at all",
        gzip.compress(BODY)[:-6],  # cut short
        gzip.compress(BODY) + b"trailing",
        b"",
    ],
)
def test_body_that_does_not_decode_is_400(data: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        read(data, "gzip")
    assert refused.value.status == 400
    assert "Content-Encoding: gzip" in refused.value.message
