"""Trial: datamodel-code-generator's msgspec Structs in place of our fast-path emitter.

Run as `make trial-datamodel-codegen` (it installs the pinned
datamodel-code-generator into a scratch virtualenv, `.trial/`, never into the
project's). It feeds `generated/openapi.json` to `datamodel-codegen
--output-model-type msgspec.Struct`, then, for every endpoint, puts the
generated request Struct in the gateway's `Validator` in place of ours (the
error-path schema table stays ours), and measures:

  agreement   the differential test's bodies (same seeds and counts), judged by
              the trial validator and by the SDK oracle of tests/oracle.py;
              today's validators agree on 100%
  speed       `validate(body)` on the bodies of bench/validator_bench.py,
              trial vs today's validator, medians of alternating rounds
  size        lines of the generated module vs ours

A benchmark, not a test: it prints its table and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from oracle import Oracle, build_oracles  # noqa: E402  # tests/ helpers, put on the path above
from test_differential import CASES, SEEDS, VALIDATORS, generate_cases  # noqa: E402
from validator_bench import large_body, medium_body, small_body  # noqa: E402

from gateway.validation.validator import Validator  # noqa: E402
from generator.regen import GENERATED, Inputs, load_inputs  # noqa: E402

CODEGEN_OPTIONS = (
    "--input-file-type=openapi",
    "--output-model-type=msgspec.Struct",
    "--use-annotated",
    "--field-constraints",
    "--enum-field-as-literal=all",
    "--use-union-operator",
    "--target-python-version=3.11",
    "--strict-nullable",
    "--use-msgspec-tagged-unions",
    "--disable-timestamp",
    "--formatters=ruff-format",
)
# Unions msgspec cannot decode as datamodel-codegen writes them: several array
# kinds in one union (ours decodes these as Any too), and tagged objects beside
# a string enum, which it leaves untagged.
LOOSE: dict[str, tuple[str, ...]] = {
    "chat.completions": ("tool_choice",),
    "completions": ("prompt",),
    "embeddings": ("input",),
}
ROUNDS = 15
CALLS = 200


def loosened_document(inputs: Inputs, fields: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """Our document with the named top-level fields of each request left unconstrained.

    The second run of the trial: msgspec decodes them as Any and the gateway's
    `Validator` checks them after the decode, as ours does for its residual fields.
    """
    document: dict[str, Any] = json.loads((GENERATED / "openapi.json").read_text())
    for endpoint, names in fields.items():
        request = inputs.matrix.endpoint(endpoint).request
        assert request is not None
        properties = document["components"]["schemas"][request.name]["properties"]
        for name in names:
            properties[name] = {"description": "checked after the decode"}
    return document


def generate(codegen: str, document: dict[str, Any], output: Path) -> ModuleType:
    """Run datamodel-codegen on an OpenAPI document and import what it wrote."""
    source = output.with_suffix(".openapi.json")
    source.write_text(json.dumps(document), encoding="utf-8")
    subprocess.run(
        [codegen, f"--input={source}", f"--output={output}", *CODEGEN_OPTIONS],
        check=True,
        capture_output=True,
    )
    spec = importlib.util.spec_from_file_location("datamodel_trial_structs", output)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # msgspec resolves annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def trial_validators(
    structs: ModuleType, inputs: Inputs, loose: dict[str, tuple[str, ...]]
) -> tuple[dict[str, Validator[Any]], dict[str, str]]:
    """Today's validators with the generated request Struct as their fast path.

    Also, per endpoint whose generated Struct msgspec refuses to build a
    decoder for, msgspec's reason.
    """
    trial: dict[str, Validator[Any]] = {}
    unusable: dict[str, str] = {}
    for endpoint in CASES:
        ours: Validator[Any] = VALIDATORS[endpoint].validator
        request = inputs.matrix.endpoint(endpoint).request
        assert request is not None
        root = getattr(structs, request.name)
        checked_after = tuple(
            (f.name, f.type) for f in ours.schema.fields if f.name in loose.get(endpoint, ())
        )
        try:
            trial[endpoint] = Validator(endpoint, root, ours.schema, checked_after)
        except TypeError as error:  # msgspec cannot decode the generated types
            unusable[endpoint] = str(error).split(" - type ", 1)[0]
    return trial, unusable


def agreement(trial: dict[str, Validator[Any]], inputs: Inputs) -> dict[str, tuple[int, int]]:
    """Per endpoint: (cases where the trial validator and the SDK oracle agree, cases)."""
    oracles = build_oracles(inputs.matrix)
    counts: dict[str, tuple[int, int]] = {}
    for endpoint, count in CASES.items():
        if endpoint not in trial:
            continue
        cases = generate_cases(inputs, endpoint, count, SEEDS[endpoint])
        agree = sum(_agrees(trial[endpoint], oracles[endpoint], c.body) for c in cases)
        counts[endpoint] = (agree, len(cases))
    return counts


def _agrees(validator: Validator[Any], oracle: Oracle, body: bytes) -> bool:
    """As in the differential test: same verdict, or non-UTF-8 bytes in forwarded fields only."""
    accepted = _accepts(validator, body)
    return accepted == oracle.accepts(body) or (accepted and oracle.accepts_forwarded(body))


def _accepts(validator: Validator[Any], body: bytes) -> bool:
    try:
        return validator.problem(body) is None
    except Exception:  # a crash is a refusal the gateway would answer 500
        return False


def speed(trial: Validator[Any]) -> list[tuple[str, float, float, bool]]:
    """(body, today's µs, trial µs, trial accepts) per benchmark body, medians of rounds."""
    ours = VALIDATORS["chat.completions"].validator
    rows = []
    for name, make in (("small", small_body), ("medium", medium_body), ("large", large_body)):
        body = msgspec.json.encode(make())
        accepted = _accepts(trial, body)
        times: dict[str, list[float]] = {"ours": [], "trial": []}
        for _ in range(ROUNDS):
            for label, validator in (("ours", ours), ("trial", trial)):
                times[label].append(_per_call_us(validator.validate, body))
        rows.append(
            (name, statistics.median(times["ours"]), statistics.median(times["trial"]), accepted)
        )
    return rows


def _per_call_us(function: Callable[[bytes], object], body: bytes) -> float:
    started = time.perf_counter_ns()
    for _ in range(CALLS):
        with contextlib.suppress(Exception):  # a refused body is timed as refused
            function(body)
    return (time.perf_counter_ns() - started) / CALLS / 1000


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codegen", required=True, help="the datamodel-codegen executable")
    parser.add_argument("--output", type=Path, default=ROOT / ".trial" / "structs.py")
    arguments = parser.parse_args(argv)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    inputs = load_inputs()
    print("run 1: our OpenAPI document as published")
    document = loosened_document(inputs, {})
    structs = generate(arguments.codegen, document, arguments.output)
    report(*trial_validators(structs, inputs, {}), inputs)
    print(f"run 2: the fields {LOOSE} decoded as Any, checked after the decode")
    structs = generate(arguments.codegen, loosened_document(inputs, LOOSE), arguments.output)
    report(*trial_validators(structs, inputs, LOOSE), inputs)
    print(
        f"lines: datamodel-codegen module {_lines(arguments.output)} (all endpoints, Structs "
        f"only); ours {_lines(GENERATED / 'validators' / 'chat_completions.py')} for "
        "chat_completions.py alone (Structs and the error-path table)"
    )
    return 0


def report(trial: dict[str, Validator[Any]], unusable: dict[str, str], inputs: Inputs) -> None:
    for endpoint, reason in unusable.items():
        print(f"{endpoint}: msgspec cannot build a decoder for the generated Struct: {reason}")
    print("agreement with the SDK oracle on the differential bodies (today's: 100%):")
    for endpoint, (agree, total) in agreement(trial, inputs).items():
        print(f"  {endpoint:<18} {agree:>5} / {total}  ({100 * agree / total:.1f}%)")
    if "chat.completions" not in trial:
        print("validate(body) speed: not measurable, chat.completions does not build")
        return
    print("validate(body), chat.completions, median µs per call:")
    for name, ours_us, trial_us, accepted in speed(trial["chat.completions"]):
        note = "" if accepted else "  (the trial validator REFUSES this valid body)"
        ratio = trial_us / ours_us
        print(f"  {name:<7} ours {ours_us:9.2f}  trial {trial_us:9.2f}  ({ratio:.2f}x)")
        if note:
            print(f"         {note}")


if __name__ == "__main__":
    sys.exit(main())
