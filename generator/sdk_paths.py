"""The API paths the installed openai SDK calls, read from its resources' source.

The matrix lists the endpoints it knows; a newer SDK may call paths under
`/v1` that no row mentions yet (3.x adds `/v1/agents`, `/v1/videos`, ...).
Regen gives those the matrix's `unlisted_endpoints` answer, so a real OpenAI
path is never a bare "Invalid URL", and the generated page lists them for the
bump's reviewer to classify.
"""

from __future__ import annotations

import re
from importlib.util import find_spec
from pathlib import Path

# `self._post("/audio/speech", ...)`, `self._get_api_list(f"/evals/{eval_id}/runs", ...)`,
# and 2.x's `self._get(path_template("/files/{file_id}", file_id=file_id), ...)`
_SDK_CALL = re.compile(
    r'self\._(?:get|post|put|patch|delete|get_api_list)\(\s*(?:path_template\(\s*)?f?"/([^"/{?]+)'
)


def sdk_resources() -> Path:
    spec = find_spec("openai")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "resources"


def api_segments(resources: Path) -> tuple[str, ...]:
    """The first path segment (after /v1) of every call the SDK's resources make, sorted."""
    found = {
        match.group(1)
        for source in sorted(resources.rglob("*.py"))
        for match in _SDK_CALL.finditer(source.read_text(encoding="utf-8"))
    }
    return tuple(sorted(found))
