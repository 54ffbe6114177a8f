"""Request bodies sent with `Content-Encoding`: decoded as they arrive, within the size limit.

gzip and deflate are decoded (deflate as HTTP means it, zlib-wrapped, or raw
as some clients send it); `identity` or no header is the body as sent;
anything else is a 415 in OpenAI's envelope. The size limit applies to the
decoded bytes, and decoding stops one byte past it: a small compressed body
cannot grow in memory beyond the limit.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable

from gateway.errors import ApiError

TooLarge = Callable[[int], ApiError]

_ANCHOR = "request-encoding"
_GZIP = zlib.MAX_WBITS | 16
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS
_NAMES = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


class _Decoder:
    """One coding's incremental decoder, never producing more than it is allowed."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._head = b""  # deflate: the first two bytes tell zlib-wrapped from raw
        self._zlib = zlib.decompressobj(_GZIP) if coding == "gzip" else None

    def feed(self, chunk: bytes, room: int) -> bytes:
        """The decoded bytes of `chunk`: at most `room` + 1, so one past the limit shows."""
        if self._zlib is None:
            self._head += chunk
            if len(self._head) < 2:
                return b""
            self._zlib = zlib.decompressobj(_ZLIB if _is_zlib(self._head) else _RAW_DEFLATE)
            chunk, self._head = self._head, b""
        try:
            return self._zlib.decompress(chunk, room + 1)
        except zlib.error as error:
            raise _undecodable(self.coding, str(error)) from None

    def finish(self) -> bytes:
        if self._zlib is None or not self._zlib.eof:
            raise _undecodable(self.coding, "the compressed data ends early")
        if self._zlib.unused_data:
            raise _undecodable(self.coding, "there are bytes after the compressed data")
        return b""


def _is_zlib(head: bytes) -> bool:
    """RFC 1950's header: compression method 8, and the first 16 bits a multiple of 31."""
    return head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0


def _undecodable(coding: str, why: str) -> ApiError:
    return ApiError(
        400,
        f"We could not decode the request body sent with Content-Encoding: {coding} ({why}).",
        anchor=_ANCHOR,
    )


def decoder_for(header: str | None) -> _Decoder | None:
    """The decoder a Content-Encoding header asks for, None for none; a 415 if unsupported."""
    if header is None:  # nearly every request: nothing to parse
        return None
    codings = [c.strip().lower() for c in header.split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in _NAMES:
        return _Decoder(_NAMES[codings[0]])
    raise ApiError(
        415,
        f"Unsupported Content-Encoding '{header}': send the request body uncompressed, "
        "or compressed with gzip or deflate.",
        anchor=_ANCHOR,
    )


async def read_body(
    chunks: AsyncIterator[bytes], encoding: str | None, limit: int, too_large: TooLarge
) -> bytes:
    """The decoded request body, refused with `too_large(size)` once it passes `limit` bytes."""
    decoder = decoder_for(encoding)
    parts: list[bytes] = []
    received = size = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > limit:
            raise too_large(received)
        data = chunk if decoder is None else decoder.feed(chunk, limit - size)
        size += len(data)
        if size > limit:
            raise too_large(size)
        parts.append(data)
    if decoder is not None:
        parts.append(decoder.finish())
    # One chunk (a small plain body) is returned as is: no copy.
    return parts[0] if len(parts) == 1 else b"".join(parts)
