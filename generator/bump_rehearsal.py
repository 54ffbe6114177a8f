"""`make bump-rehearsal VERSION=x.y.z`: the whole bump procedure, in a scratch clone.

Clones the current commit into a scratch directory and runs there exactly what
docs/bump-procedure.md tells a maintainer to do (new pin, `make install`,
`make surface-diff`, matrix `sdk.version`, `make regen`, `make accept-snapshots`)
and then what CI checks (`check-generated`, `lint`, `typecheck`, `test`). It
prints one report: the surface diff, the diff stat of what the bump changed,
and each step's outcome. The working tree is never written to; the report says
so after checking. The scratch clone is kept for inspection.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from generator.errors import GeneratorError
from generator.regen import ROOT

PIN = re.compile(r'"openai==([^"]+)"')
MATRIX_VERSION = re.compile(r'^(sdk:\n(?:[ ]{2}.*\n)*?[ ]{2}version: )"([^"]*)"', re.MULTILINE)
# Generous bounds: a cold `make install` downloads every wheel; `make test` runs ~2 min here.
STEP_TIMEOUT_S = {"install": 1200, "test": 1800}
DEFAULT_TIMEOUT_S = 600
OUTPUT_TAIL_LINES = 40
# What the outer `make` passes down would otherwise steer the clone's own `make`.
INHERITED_MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VENV", "BASE_PYTHON", "VERSION")


def set_pin(pyproject: str, version: str) -> str:
    """pyproject.toml with the `openai==` pin of the generator extra set to `version`."""
    if len(PIN.findall(pyproject)) != 1:
        raise GeneratorError('pyproject.toml must pin openai exactly once ("openai==X")')
    return PIN.sub(f'"openai=={version}"', pyproject)


def set_matrix_version(matrix: str, version: str) -> str:
    """The matrix with `sdk.version` set to `version`, every other byte kept."""
    updated, count = MATRIX_VERSION.subn(rf'\g<1>"{version}"', matrix, count=1)
    if count != 1:
        raise GeneratorError('the matrix has no `sdk:` block with a `version: "X"` line')
    return updated


@dataclasses.dataclass
class Step:
    name: str
    command: str
    outcome: str = "skipped"  # passed | failed | skipped
    seconds: float = 0.0
    output: str = ""  # stdout and stderr
    stdout: str = ""


@dataclasses.dataclass
class Rehearsal:
    version: str
    from_version: str
    commit: str
    clone: Path
    steps: list[Step] = dataclasses.field(default_factory=list)
    surface_diff: str = ""
    diff_stat: str = ""
    tree_untouched: bool = False

    @property
    def green(self) -> bool:
        return bool(self.steps) and all(s.outcome == "passed" for s in self.steps)


class Runner:
    """Runs the steps in the clone; after a failed gate step the rest are skipped."""

    def __init__(self, rehearsal: Rehearsal, echo: Callable[[str], None]) -> None:
        self.rehearsal = rehearsal
        self.echo = echo
        self.blocked = False
        self.env = {k: v for k, v in os.environ.items() if k not in INHERITED_MAKE_VARIABLES}
        self.env.pop("PYTHONPATH", None)
        self.env.pop("VIRTUAL_ENV", None)
        self.env["PATH"] = _without_our_venv(self.env.get("PATH", ""))

    def make(self, target: str, *, gate: bool = False) -> Step:
        timeout = STEP_TIMEOUT_S.get(target, DEFAULT_TIMEOUT_S)
        return self.run(target, ["make", "--silent", "--no-print-directory", target], gate, timeout)

    def run(self, name: str, argv: list[str], gate: bool, timeout: float) -> Step:
        step = Step(name, " ".join(argv))
        self.rehearsal.steps.append(step)
        if self.blocked:
            return step
        self.echo(f"bump-rehearsal: {step.command} ...")
        started = time.monotonic()
        try:
            done = subprocess.run(
                argv,
                cwd=self.rehearsal.clone,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            step.output, step.stdout = done.stdout + done.stderr, done.stdout
            step.outcome = "passed" if done.returncode == 0 else "failed"
        except subprocess.TimeoutExpired:
            step.output, step.outcome = f"timed out after {timeout:.0f} s", "failed"
        step.seconds = time.monotonic() - started
        self.echo(f"bump-rehearsal: {step.name} {step.outcome} ({step.seconds:.0f} s)")
        self.blocked = self.blocked or (gate and step.outcome == "failed")
        return step

    def edit(self, name: str, relative: str, change: Callable[[str], str]) -> Step:
        step = Step(name, f"edit {relative}")
        self.rehearsal.steps.append(step)
        if self.blocked:
            return step
        path = self.rehearsal.clone / relative
        try:
            path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
            step.outcome = "passed"
        except GeneratorError as error:
            step.output, step.outcome, self.blocked = str(error), "failed", True
        return step


def _without_our_venv(path: str) -> str:
    """PATH minus this checkout's virtualenvs: the clone's `make` puts its own first."""
    ours = str(ROOT)
    return os.pathsep.join(p for p in path.split(os.pathsep) if not p.startswith(ours))


def git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def rehearse(version: str, clone: Path, echo: Callable[[str], None]) -> Rehearsal:
    before = git("status", "--porcelain", "--untracked-files=all")
    commit = git("rev-parse", "HEAD").strip()
    git("clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone), cwd=clone.parent)
    git("checkout", "--quiet", "--detach", commit, cwd=clone)
    pinned = PIN.findall((clone / "pyproject.toml").read_text(encoding="utf-8"))
    rehearsal = Rehearsal(version, pinned[0] if pinned else "?", commit, clone)
    run = Runner(rehearsal, echo)

    # docs/bump-procedure.md, step by step.
    run.edit("pin", "pyproject.toml", lambda text: set_pin(text, version))
    run.make("install", gate=True)
    diff = run.make("surface-diff", gate=True)
    rehearsal.surface_diff = diff.stdout if diff.outcome == "passed" else ""
    run.edit("matrix sdk.version", "spec/support_matrix.yaml", _matrix_edit(version))
    run.make("regen", gate=True)
    run.make("accept-snapshots", gate=True)
    # What CI checks.
    for target in ("check-generated", "lint", "typecheck", "test"):
        run.make(target)

    rehearsal.diff_stat = git("diff", "--stat", "HEAD", cwd=clone) + _deleted_snapshots(clone)
    after = git("status", "--porcelain", "--untracked-files=all")
    rehearsal.tree_untouched = before == after and git("rev-parse", "HEAD").strip() == commit
    return rehearsal


def _matrix_edit(version: str) -> Callable[[str], str]:
    return lambda text: set_matrix_version(text, version)


def _deleted_snapshots(clone: Path) -> str:
    deleted = git("diff", "--name-only", "--diff-filter=D", "HEAD", "--", "tests", cwd=clone)
    return "".join(f"DELETED {line}\n" for line in deleted.splitlines())


def render_report(rehearsal: Rehearsal) -> str:
    lines = [
        f"# Bump rehearsal: openai {rehearsal.from_version} → {rehearsal.version}",
        "",
        f"Commit {rehearsal.commit[:12]}, rehearsed in {rehearsal.clone}.",
        f"Result: **{'green' if rehearsal.green else 'NOT green'}**. Working tree "
        + (
            "untouched."
            if rehearsal.tree_untouched
            else "CHANGED while the rehearsal ran (by it, or by an edit meanwhile)!"
        ),
        "",
        "## Steps",
        "",
        "| step | command | outcome | time | last line of output |",
        "|---|---|---|--:|---|",
    ]
    lines += [
        f"| {s.name} | `{s.command}` | {s.outcome} | {s.seconds:.0f} s | {last_line(s.output)} |"
        for s in rehearsal.steps
    ]
    lines += ["", "## Surface diff (`make surface-diff`)", ""]
    lines += [rehearsal.surface_diff.rstrip() or "(not produced)", ""]
    lines += ["## What the bump changed (`git diff --stat`)", "", "```"]
    lines += [rehearsal.diff_stat.rstrip() or "(nothing)", "```"]
    for step in rehearsal.steps:
        if step.outcome == "failed":
            tail = step.output.rstrip().splitlines()[-OUTPUT_TAIL_LINES:]
            lines += ["", f"## {step.name} failed (last lines)", "", "```", *tail, "```"]
    return "\n".join(lines) + "\n"


def last_line(output: str) -> str:
    """A step's own summary (pytest's counts, ruff's verdict), fit for a table cell."""
    lines = [line.strip(" =") for line in output.splitlines() if line.strip(" =")]
    text = lines[-1] if lines else ""
    text = text[:117] + "..." if len(text) > 120 else text
    return text.replace("|", "\\|")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.bump_rehearsal")
    parser.add_argument("version", help="the openai release to rehearse the bump to")
    parser.add_argument("--report", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"\d+(\.\d+)+\S*", args.version):
        parser.error(f"not a release version: {args.version!r} (e.g. 3.57.0)")
    scratch = Path(tempfile.mkdtemp(prefix=f"bump-rehearsal-{args.version}-"))
    rehearsal = rehearse(args.version, scratch / "repo", lambda text: print(text, file=sys.stderr))
    report = render_report(rehearsal)
    (scratch / "report.md").write_text(report, encoding="utf-8")
    if args.report:
        args.report.write_text(report, encoding="utf-8")
    sys.stdout.write(report)
    return 0 if rehearsal.green and rehearsal.tree_untouched else 1


if __name__ == "__main__":
    sys.exit(main())
