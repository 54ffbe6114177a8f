"""API keys: the keys file, Bearer authentication, OpenAI-worded 401s, the CLI."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config_errors import ConfigError
from gateway.errors import ApiError
from gateway.http.auth import KeyRecord, KeyStore, hash_key, main, mask_key, new_key

REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_KEY = "sk-dev-abcdefghijklmnopqrstuvwxyz"
OPS_KEY = "sk-ops-0123456789"


def write_keys(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keys.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    path = write_keys(
        tmp_path,
        f"""
keys:
  - id: local-dev
    sha256: "{hash_key(DEV_KEY)}"
    requests_per_minute: 600
    tokens_per_minute: 200000
  - id: ops
    sha256: "{hash_key(OPS_KEY).upper()}"
""",
    )
    return KeyStore.from_file(path, default_rpm=60, default_tpm=1000)


def auth_error(store: KeyStore, header: str | None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        store.authenticate(header)
    return caught.value


def test_hash_key_is_sha256_hex_of_the_full_key() -> None:
    assert hash_key("abc") == hashlib.sha256(b"abc").hexdigest()


def test_file_limits_override_defaults_and_missing_ones_use_defaults(store: KeyStore) -> None:
    assert len(store) == 2
    assert store.authenticate(f"Bearer {DEV_KEY}") == KeyRecord("local-dev", 600, 200000)
    assert store.authenticate(f"Bearer {OPS_KEY}") == KeyRecord("ops", 60, 1000)


def test_bearer_scheme_is_case_insensitive_and_spaces_are_trimmed(store: KeyStore) -> None:
    assert store.authenticate(f"  bearer   {DEV_KEY} ").id == "local-dev"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", f"Basic {DEV_KEY}", DEV_KEY])
def test_missing_or_non_bearer_key_is_401_you_didnt_provide(
    store: KeyStore, header: str | None
) -> None:
    error = auth_error(store, header)
    assert (error.status, error.type, error.code) == (
        401,
        "invalid_request_error",
        "invalid_api_key",
    )
    assert error.anchor == "authentication"
    assert error.message.startswith(
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
    )


def test_wrong_key_is_401_incorrect_with_masked_key(store: KeyStore) -> None:
    error = auth_error(store, "Bearer sk-abcdefghijklmnopqrstuvwxyz")
    assert (error.status, error.code, error.anchor) == (401, "invalid_api_key", "authentication")
    assert error.message == (
        "Incorrect API key provided: sk-ab***wxyz. Ask the gateway's operator for a valid API key."
    )


def test_a_real_key_differing_only_in_case_or_suffix_is_rejected(store: KeyStore) -> None:
    auth_error(store, f"Bearer {DEV_KEY.upper()}")
    auth_error(store, f"Bearer {DEV_KEY}x")
    auth_error(store, f"Bearer {DEV_KEY[:-1]}")


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("sk-abcdefghijklmnopqrstuvwxyz", "sk-ab***wxyz"),
        ("abcdefghijklm", "abcde***jklm"),  # 13 characters: the shortest partly shown
        ("abcdefghijkl", "***"),  # 12 characters: would show 9 of 12
        ("short", "***"),
        ("", "***"),
    ],
)
def test_mask_key(key: str, shown: str) -> None:
    assert mask_key(key) == shown


def test_short_wrong_key_never_appears_in_the_message(store: KeyStore) -> None:
    error = auth_error(store, "Bearer sk-secret123")
    assert "Incorrect API key provided: ***." in error.message
    assert "secret" not in error.message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("keys: [", "not valid YAML"),
        ("- id: a", "exactly one field, `keys`"),
        ("keys: []\nextra: 1", "exactly one field, `keys`"),
        ("keys: []", "non-empty list"),
        ("keys: {id: a}", "non-empty list"),
        ("keys: [just-a-string]", "keys[0]: expected a mapping"),
        (f"keys: [{{sha256: '{'a' * 64}'}}]", "keys[0].id: expected a non-empty string"),
        (f"keys: [{{id: ' ', sha256: '{'a' * 64}'}}]", "keys[0].id: expected a non-empty string"),
        ("keys: [{id: a}]", "keys[0].sha256: expected a string"),
        ("keys: [{id: a, sha256: 'abc'}]", "keys[0].sha256: expected the sha256 hex digest"),
        (f"keys: [{{id: a, sha256: '{'g' * 64}'}}]", "got 64 characters"),
        (
            f"keys: [{{id: a, sha256: '{'a' * 64}', requests_per_min: 5}}]",
            "keys[0]: unknown field(s) ['requests_per_min']",
        ),
        (
            f"keys: [{{id: a, sha256: '{'a' * 64}', requests_per_minute: 0}}]",
            "keys[0].requests_per_minute: expected a positive integer, got 0",
        ),
        (
            f"keys: [{{id: a, sha256: '{'a' * 64}', tokens_per_minute: yes}}]",
            "keys[0].tokens_per_minute: expected a positive integer, got True",
        ),
        (
            f"keys: [{{id: a, sha256: '{'a' * 64}', tokens_per_minute: '5'}}]",
            "keys[0].tokens_per_minute: expected a positive integer, got '5'",
        ),
        (
            f"keys: [{{id: a, sha256: '{'a' * 64}'}}, {{id: a, sha256: '{'b' * 64}'}}]",
            "keys[1]: duplicate id 'a'",
        ),
        (
            f"keys: [{{id: a, sha256: '{'a' * 64}'}}, {{id: b, sha256: '{'A' * 64}'}}]",
            "keys[1]: same sha256 as 'a'",
        ),
    ],
)
def test_malformed_file_raises_config_error_naming_file_and_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write_keys(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        KeyStore.from_file(path, default_rpm=60, default_tpm=1000)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    assert isinstance(caught.value, ValueError)


def test_a_key_pasted_instead_of_its_hash_is_not_echoed(tmp_path: Path) -> None:
    path = write_keys(tmp_path, f"keys: [{{id: a, sha256: '{DEV_KEY}'}}]")
    with pytest.raises(ConfigError) as caught:
        KeyStore.from_file(path, 60, 1000)
    assert DEV_KEY not in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=r"absent\.yaml: cannot read keys file"):
        KeyStore.from_file(path, 60, 1000)


def test_non_positive_defaults_are_the_callers_bug(tmp_path: Path) -> None:
    path = write_keys(tmp_path, f"keys: [{{id: a, sha256: '{'a' * 64}'}}]")
    with pytest.raises(ValueError, match="default limits must be positive"):
        KeyStore.from_file(path, 0, 1000)


def test_new_key_is_sk_prefixed_random() -> None:
    first, second = new_key(), new_key()
    assert first.startswith("sk-")
    assert len(first) > 40
    assert first != second


def test_cli_hash_prints_sha256_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hash", "abc"]) == 0
    assert capsys.readouterr().out == f'sha256: "{hash_key("abc")}"\n'


def test_cli_new_prints_a_key_and_its_hash_usable_in_a_keys_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new"]) == 0
    key_line, hash_line = capsys.readouterr().out.splitlines()
    key = key_line.removeprefix("key: ")
    assert key.startswith("sk-")
    path = write_keys(tmp_path, f"keys:\n  - id: fresh\n    {hash_line}\n")
    assert KeyStore.from_file(path, 1, 1).authenticate(f"Bearer {key}").id == "fresh"


def test_cli_runs_as_module_and_reads_key_from_stdin() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gateway.http.auth", "hash", "-"],
        input="abc\n",
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
        timeout=60,
    )
    assert completed.stdout == f'sha256: "{hash_key("abc")}"\n'
