"""A bundled, deterministic OpenAI-compatible upstream inference engine.

The command line (its first docstring line is the --help description):
python -m reference_engine --host 127.0.0.1 --port 8001 --models a,b
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from reference_engine.app import DEFAULT_SLOW_S, create_app
from reference_engine.failures import MODEL_SLOW

DEFAULT_PORT = 8001


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--models", default="", help="comma-separated served model ids; empty: any")
    parser.add_argument("--stream-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--slow", type=float, default=DEFAULT_SLOW_S, help=f"{MODEL_SLOW} delay, s")
    return parser.parse_args(argv)


def split_models(value: str) -> list[str]:
    return [m.strip() for m in value.split(",") if m.strip()]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    app = create_app(split_models(args.models), args.stream_delay, args.slow)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
