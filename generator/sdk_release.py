"""Put an openai release, and only what the venv lacks for it, into a scratch `pip --target` dir.

Reading a newer release's surface must not touch the venv's pinned SDK. The
release goes in with `--no-deps`; its requirements the venv already satisfies
come from the venv; the others (3.x needs `httpx2`, which no 1.x venv has) are
installed into the same directory, one round of `--no-deps` installs at a time
until every requirement there is met. Nothing else is downloaded.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from generator.errors import GeneratorError

# Each round installs the requirements the previous one left unmet; a chain this
# deep means the resolution does not converge.
MAX_ROUNDS = 8


def install_release(version: str, target: Path) -> list[str]:
    """Install openai==version into target plus its unmet requirements; return those."""
    pip_install(target, [f"openai=={version}"])
    added: list[str] = []
    for _ in range(MAX_ROUNDS):
        missing = unmet_requirements(target)
        if not missing:
            return added
        pip_install(target, missing)
        added += missing
    raise GeneratorError(f"requirements in {target} still unmet after {MAX_ROUNDS} rounds")


def pip_install(target: Path, requirements: list[str]) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
    result = subprocess.run(
        [*command, str(target), *requirements], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise GeneratorError(f"pip install {' '.join(requirements)} failed:\n{result.stderr}")


def unmet_requirements(target: Path) -> list[str]:
    """Requirements of the distributions in target that neither target nor the venv meets."""
    search_path = [str(target), *sys.path]
    unmet: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=[str(target)]):
        for requirement in _runtime_requirements(dist.requires or ()):
            if not _met(requirement, search_path):
                unmet.setdefault(requirement.name.lower(), str(requirement))
    return sorted(unmet.values())


def missing_for_import(sdk_path: Path) -> str:
    """What to run when a release in sdk_path cannot be imported (for the error message)."""
    missing = unmet_requirements(sdk_path)
    if not missing:
        return ""
    quoted = " ".join(f"'{r}'" for r in missing)
    return (
        f"; it needs {', '.join(missing)}, which the venv lacks: "
        f"`pip install --no-deps --target {sdk_path} {quoted}`, or let "
        "`python -m generator.surface_of --release X` install the release and them"
    )


def _runtime_requirements(lines: Iterable[str]) -> Iterable[Requirement]:
    """Requirements without extras markers, for this interpreter."""
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise GeneratorError(f"unreadable requirement {line!r}: {error}") from error
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            yield requirement


def _met(requirement: Requirement, search_path: list[str]) -> bool:
    # The first distribution found is the one `import` would use.
    found = next(
        iter(importlib.metadata.distributions(name=requirement.name, path=search_path)), None
    )
    return found is not None and requirement.specifier.contains(found.version, prereleases=True)
