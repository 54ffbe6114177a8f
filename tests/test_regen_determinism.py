"""`make regen` writes the same bytes in any process, whatever its hash seed.

In one process two builds can agree while still depending on set or dict-of-set
iteration order, which Python randomises per process through PYTHONHASHSEED.
So the generated tree is built in two fresh interpreters with different seeds,
each into its own temporary directory, and the trees compared byte for byte
(and with the committed tree, which `make check-generated` also pins).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from generator.regen import GENERATED

REPO_ROOT = Path(__file__).resolve().parents[1]
HASH_SEEDS = ("1", "2718281828")
BUILD_TIMEOUT_S = 120
# What `make regen` does (generator/__main__.py), writing into argv[1] instead of generated/.
REGEN_INTO = (
    "import sys; from pathlib import Path; "
    "from generator.regen import build, load_inputs, write; "
    "write(build(load_inputs()), Path(sys.argv[1]))"
)


def regen_into(target: Path, hash_seed: str) -> dict[str, bytes]:
    environment = {**os.environ, "PYTHONHASHSEED": hash_seed}
    subprocess.run(
        [sys.executable, "-c", REGEN_INTO, str(target)],
        cwd=REPO_ROOT,
        env=environment,
        check=True,
        timeout=BUILD_TIMEOUT_S,
    )
    return tree(target)


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_regen_output_is_byte_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    first, second = (regen_into(tmp_path / seed, seed) for seed in HASH_SEEDS)
    assert first, "regen wrote nothing"
    differing = sorted(p for p in first.keys() | second.keys() if first.get(p) != second.get(p))
    assert not differing, f"differ between PYTHONHASHSEED={' and '.join(HASH_SEEDS)}: {differing}"
    assert first == tree(GENERATED)
