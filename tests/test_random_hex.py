"""Ids' random digits: from os.urandom a page at a time, never handed out twice, and a
forked child's differ from its parent's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gateway.random_hex import RandomHex

ROOT = Path(__file__).resolve().parent.parent


def test_digits_are_lower_case_hex_of_the_asked_length_across_page_refills() -> None:
    source = RandomHex(page_bytes=40)
    pieces = [source.hex(16) for _ in range(50)]  # 16-byte ids straddle 40-byte pages
    assert all(len(piece) == 32 and piece == piece.lower() for piece in pieces)
    assert all(int(piece, 16) >= 0 for piece in pieces)
    assert len(set(pieces)) == len(pieces)


def test_a_request_larger_than_a_page_gets_all_its_bytes() -> None:
    assert len(RandomHex(page_bytes=8).hex(20)) == 40


FORK_SCRIPT = """
import os
from gateway.random_hex import RANDOM_HEX
RANDOM_HEX.hex(8)  # the page is read, its rest buffered
reader, writer = os.pipe()
if os.fork() == 0:
    os.write(writer, RANDOM_HEX.hex(16).encode())
    os._exit(0)
os.close(writer)
os.wait()
print(os.read(reader, 64).decode(), RANDOM_HEX.hex(16))
"""


def test_a_forked_child_does_not_repeat_its_parents_buffered_digits() -> None:
    # In a fresh single-threaded interpreter: forking this multi-threaded one warns.
    run = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    childs, parents = run.stdout.split()
    assert len(childs) == len(parents) == 32
    assert childs != parents
