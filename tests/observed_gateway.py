"""A gateway process for the observer and crash tests: the app `create_app` builds,
with a recording observer, plus one route that crashes, under uvicorn as
`gateway.serve` runs it (uvloop, the guarded protocol, the gateway's logging).

    python tests/observed_gateway.py CONFIG PORT RECORD

Each request outcome is appended to RECORD as one JSON line, as observed.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import uvicorn
from starlette.requests import Request
from starlette.responses import Response

from gateway.app import create_app
from gateway.config import Logging
from gateway.logs import dict_config
from gateway.observe import RequestOutcome

CRASH = "deliberate crash of the observed gateway's /v1/crash route"


async def crashing(request: Request) -> Response:
    raise RuntimeError(CRASH)


def main() -> None:
    config, port, record = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])

    def write(outcome: RequestOutcome) -> None:
        with record.open("a") as lines:
            lines.write(json.dumps(dataclasses.asdict(outcome)) + "\n")

    app = create_app(config, observers=[write])
    app.add_route("/v1/crash", crashing, methods=["POST"])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="gateway.http.guard:GuardedHttpToolsProtocol",
        access_log=False,
        log_config=dict_config(Logging().level, Logging().format),
    )


if __name__ == "__main__":
    main()
