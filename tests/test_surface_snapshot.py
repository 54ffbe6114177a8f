"""The SDK surface is pinned: a bump fails here until someone audits the diff."""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from generator.regen import load_inputs
from generator.surface_dump import surface_document

AUDIT_HINT = (
    "The installed openai SDK's request surface differs from the audited snapshot. "
    "Next: run `make surface-diff` and read it, update spec/support_matrix.yaml "
    "(sdk.version, validated fields, rows), run `make regen`, then accept the audit with "
    "`pytest --snapshot-update` (see docs/bump-procedure.md)."
)


@pytest.fixture
def surface_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def installed_surface() -> dict[str, Any]:
    inputs = load_inputs(allow_other_sdk=True)
    return surface_document(inputs.surface, inputs.matrix)


def test_installed_sdk_surface_matches_the_audited_snapshot(
    surface_snapshot: SnapshotAssertion,
) -> None:
    assert installed_surface() == surface_snapshot, AUDIT_HINT
