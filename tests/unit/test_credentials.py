"""``~/.uno/credentials.json``: uno-cli's format, never lost, never loose."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import sys
from pathlib import Path

import pytest

from gptimg import errors
from gptimg.credentials import CredentialStore, default_credentials_path

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture
def cred_path(isolated_home: Path) -> Path:
    return isolated_home / ".uno" / "credentials.json"


def write_raw(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)


def account(name: str, key: str, **extra) -> dict:
    return {"api_key": key, "name": name, "email": f"{name}@example.com", "user_id": f"u_{name}", **extra}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- reading ----------------------------------------------------------------------------------


def test_default_path_is_under_the_home_directory(isolated_home):
    assert default_credentials_path() == isolated_home / ".uno" / "credentials.json"
    assert CredentialStore().path == isolated_home / ".uno" / "credentials.json"


def test_missing_file_means_no_accounts_and_not_logged_in(cred_path):
    store = CredentialStore(cred_path)

    assert store.accounts() == []
    with pytest.raises(errors.NotLoggedIn) as caught:
        store.active_key()
    assert caught.value.exit_code == errors.EXIT_AUTH


def test_legacy_single_object_file_is_read_as_one_account(cred_path):
    write_raw(cred_path, json.dumps({"api_key": "uno_legacy_key_123456", "name": "old"}))

    store = CredentialStore(cred_path)

    assert store.accounts() == [{"api_key": "uno_legacy_key_123456", "name": "old"}]
    assert store.active_key().api_key == "uno_legacy_key_123456"


def test_active_account_wins_else_the_first(cred_path):
    write_raw(cred_path, json.dumps([account("a", "uno_key_a_0000000"), account("b", "uno_key_b_0000000", active=True)]))
    assert CredentialStore(cred_path).active_key().api_key == "uno_key_b_0000000"

    write_raw(cred_path, json.dumps([account("a", "uno_key_a_0000000"), account("b", "uno_key_b_0000000")]))
    key = CredentialStore(cred_path).active_key()
    assert key.api_key == "uno_key_a_0000000"
    assert key.source == "file"


def test_uno_api_key_env_wins_over_the_file(cred_path, monkeypatch):
    write_raw(cred_path, json.dumps([account("a", "uno_key_a_0000000", active=True)]))
    monkeypatch.setenv("UNO_API_KEY", "uno_from_env_9999999")

    key = CredentialStore(cred_path).active_key()

    assert key.api_key == "uno_from_env_9999999"
    assert key.source == "env"
    assert CredentialStore(cred_path, use_env=False).active_key().api_key == "uno_key_a_0000000"


def test_env_key_works_even_when_the_file_is_damaged(cred_path, monkeypatch):
    write_raw(cred_path, "{not json")
    monkeypatch.setenv("UNO_API_KEY", "uno_from_env_9999999")

    assert CredentialStore(cred_path).active_key().api_key == "uno_from_env_9999999"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"42", b'"a string"', b"null", b"[1, 2]", b'[{"name": "a"}, "junk"]', b"\xff\xfe\x00garbage"],
    ids=["bad-json", "number", "string", "null", "list-of-numbers", "mixed-list", "not-utf8"],
)
def test_corrupted_file_is_reported_with_its_path_and_left_byte_for_byte(cred_path, content):
    write_raw(cred_path, content)

    with pytest.raises(errors.CredentialsCorrupt) as caught:
        CredentialStore(cred_path).accounts()

    assert str(cred_path) in caught.value.message
    assert caught.value.hint
    assert cred_path.read_bytes() == content


def test_corrupted_file_is_not_treated_as_logged_out(cred_path):
    write_raw(cred_path, b"{not json")

    with pytest.raises(errors.CredentialsCorrupt):
        CredentialStore(cred_path).active_key()


# --- writing ----------------------------------------------------------------------------------


def test_save_creates_a_list_with_one_active_account(cred_path):
    store = CredentialStore(cred_path)

    shown = store.save_account("uno_key_a_0000000", "a", "a@example.com", "u_a")

    assert "api_key" not in shown
    assert json.loads(cred_path.read_text()) == [
        {"api_key": "uno_key_a_0000000", "name": "a", "email": "a@example.com", "user_id": "u_a", "active": True}
    ]


def test_save_keeps_unknown_fields_and_other_accounts(cred_path):
    original = [
        account("a", "uno_key_a_0000000", active=True, plan="pro", extra={"nested": [1, 2]}),
        account("b", "uno_key_b_0000000", created_by="uno-cli"),
    ]
    write_raw(cred_path, json.dumps(original))

    CredentialStore(cred_path).save_account("uno_key_a_new_00000", "a", "a@example.com", "u_a")

    saved = json.loads(cred_path.read_text())
    assert saved[0]["plan"] == "pro"
    assert saved[0]["extra"] == {"nested": [1, 2]}
    assert saved[0]["api_key"] == "uno_key_a_new_00000"
    assert saved[1] == original[1]


def test_save_matches_by_email_then_name_and_makes_it_the_only_active(cred_path):
    store = CredentialStore(cred_path)
    store.save_account("uno_key_1_0000000", "Ada", "ada@example.com")
    store.save_account("uno_key_2_0000000", "Bob", "bob@example.com")
    # Same email, new display name: the same account.
    store.save_account("uno_key_3_0000000", "Ada L.", "ada@example.com")
    # No email: matched by name.
    store.save_account("uno_key_4_0000000", "carol")
    store.save_account("uno_key_5_0000000", "carol")

    accounts = store.accounts()
    assert [(a["name"], a["api_key"]) for a in accounts] == [
        ("Ada L.", "uno_key_3_0000000"),
        ("Bob", "uno_key_2_0000000"),
        ("carol", "uno_key_5_0000000"),
    ]
    assert [a.get("active", False) for a in accounts] == [False, False, True]


def test_save_by_email_matches_an_account_whose_name_is_that_email(cred_path):
    # uno-cli semantics: the identifier (email, else name) matches either field.
    write_raw(cred_path, json.dumps([{"api_key": "uno_old_000000000", "name": "ada@example.com"}]))

    CredentialStore(cred_path).save_account("uno_new_000000000", "Ada", "ada@example.com")

    assert [a["api_key"] for a in CredentialStore(cred_path).accounts()] == ["uno_new_000000000"]


def test_remove_active_account(cred_path):
    write_raw(cred_path, json.dumps([account("a", "k_a"), account("b", "k_b", active=True), account("c", "k_c")]))
    store = CredentialStore(cred_path)

    assert store.remove() == 1

    assert [a["name"] for a in store.accounts()] == ["a", "c"]


def test_remove_named_account_and_everything(cred_path):
    write_raw(cred_path, json.dumps([account("a", "k_a"), account("b", "k_b"), account("c", "k_c")]))
    store = CredentialStore(cred_path)

    assert store.remove(account="b@example.com") == 1
    assert [a["name"] for a in store.accounts()] == ["a", "c"]
    assert store.remove(account="nobody") == 0

    assert store.remove(everything=True) == 2
    assert store.accounts() == []
    assert json.loads(cred_path.read_text()) == []


def test_switch_makes_exactly_one_account_active(cred_path):
    write_raw(cred_path, json.dumps([account("a", "k_a", active=True), account("b", "k_b")]))
    store = CredentialStore(cred_path)

    shown = store.switch("b")

    assert shown is not None and shown["name"] == "b" and "api_key" not in shown
    assert [a.get("active", False) for a in store.accounts()] == [False, True]
    assert store.active_key().api_key == "k_b"


def test_switch_to_unknown_account_changes_nothing(cred_path):
    original = json.dumps([account("a", "k_a", active=True)]).encode()
    write_raw(cred_path, original)

    assert CredentialStore(cred_path).switch("zed") is None

    assert cred_path.read_bytes() == original


def test_saving_over_a_corrupted_file_backs_it_up_first(cred_path):
    damaged = b'[{"api_key": "uno_precious_key_0001", "name": "a"'  # truncated mid-write
    write_raw(cred_path, damaged)
    store = CredentialStore(cred_path)

    store.save_account("uno_key_new_000000", "b", "b@example.com")

    backups = list(cred_path.parent.glob("credentials.json.damaged-*"))
    assert len(backups) == 1
    assert backups[0].read_bytes() == damaged
    assert [a["name"] for a in store.accounts()] == ["b"]
    assert any(str(backups[0]) in warning for warning in store.warnings)


def test_two_damaged_saves_keep_two_backups(cred_path):
    for n in range(2):
        write_raw(cred_path, f"damaged {n}")
        CredentialStore(cred_path).save_account(f"uno_key_{n}_00000000", f"n{n}")

    backups = sorted(p.read_bytes() for p in cred_path.parent.glob("credentials.json.damaged-*"))
    assert backups == [b"damaged 0", b"damaged 1"]


# --- permissions ----------------------------------------------------------------------------


@posix_only
def test_loose_permissions_are_fixed_with_a_warning(cred_path):
    write_raw(cred_path, json.dumps([account("a", "k_a")]), mode=0o644)
    os.chmod(cred_path.parent, 0o755)
    store = CredentialStore(cred_path)

    store.accounts()

    assert mode_of(cred_path) == 0o600
    assert mode_of(cred_path.parent) == 0o700
    assert len(store.warnings) == 1
    assert "0644" in store.warnings[0]


@posix_only
def test_private_file_gets_no_warning(cred_path):
    write_raw(cred_path, json.dumps([account("a", "k_a")]), mode=0o600)
    store = CredentialStore(cred_path)

    store.accounts()

    assert store.warnings == []


@posix_only
def test_file_is_0600_and_directory_0700_even_with_umask_0(cred_path):
    old = os.umask(0)
    try:
        CredentialStore(cred_path).save_account("uno_key_a_0000000", "a")
    finally:
        os.umask(old)

    assert mode_of(cred_path) == 0o600
    assert mode_of(cred_path.parent) == 0o700
    leftovers = [p.name for p in cred_path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


@posix_only
def test_existing_loose_directory_is_tightened_on_save(cred_path):
    cred_path.parent.mkdir(mode=0o755)
    os.chmod(cred_path.parent, 0o755)

    CredentialStore(cred_path).save_account("uno_key_a_0000000", "a")

    assert mode_of(cred_path.parent) == 0o700


# --- two writers at once ----------------------------------------------------------------------


def _save_many(path: str, prefix: str, count: int) -> None:
    store = CredentialStore(Path(path), use_env=False)
    for n in range(count):
        store.save_account(f"uno_{prefix}_{n:04d}_key", f"{prefix}{n}", f"{prefix}{n}@example.com")


@pytest.mark.skipif(sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods(),
                    reason="uses fork")
def test_two_processes_saving_at_once_lose_no_account_and_never_leave_bad_json(cred_path):
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_save_many, args=(str(cred_path), p, 20)) for p in ("x", "y")]
    for writer in writers:
        writer.start()
    seen_reads = 0
    while any(w.is_alive() for w in writers):
        if cred_path.exists():
            # Every read while the writers run must be whole JSON: writes are atomic renames.
            json.loads(cred_path.read_bytes())
            seen_reads += 1
    for writer in writers:
        writer.join(timeout=60)
        assert writer.exitcode == 0

    accounts = json.loads(cred_path.read_bytes())
    names = sorted(a["name"] for a in accounts)
    assert names == sorted([f"x{n}" for n in range(20)] + [f"y{n}" for n in range(20)])
    assert sum(1 for a in accounts if a.get("active")) == 1


# --- interoperability with uno-cli 1.0.7 ------------------------------------------------------


@pytest.fixture
def uno_cli(monkeypatch, cred_path):
    import uno_cli.cli as cli  # a test dependency (pyproject): missing, the interop tests must fail, not skip
    monkeypatch.setattr(cli, "CRED_DIR", str(cred_path.parent))
    monkeypatch.setattr(cli, "CRED_FILE", str(cred_path))
    return cli


def test_file_written_by_uno_cli_is_read_by_credential_store(uno_cli, cred_path):
    manager = uno_cli.AuthManager()
    manager.save_account("uno_from_unocli_a_0001", "a", "a@example.com", "u_a")
    manager.save_account("uno_from_unocli_b_0002", "b", "b@example.com", "u_b")

    store = CredentialStore(cred_path)

    assert [a["name"] for a in store.accounts()] == ["a", "b"]
    assert store.active_key().api_key == "uno_from_unocli_b_0002"


def test_file_written_by_credential_store_is_read_by_uno_cli(uno_cli, cred_path):
    store = CredentialStore(cred_path)
    store.save_account("uno_from_gptimg_a_0001", "a", "a@example.com", "u_a")
    store.save_account("uno_from_gptimg_b_0002", "b", "b@example.com", "u_b")
    store.switch("a")

    manager = uno_cli.AuthManager()

    assert manager.load_key() == "uno_from_gptimg_a_0001"
    assert [a["name"] for a in manager.list_accounts()] == ["a", "b"]


def test_uno_cli_save_over_our_file_keeps_our_accounts(uno_cli, cred_path):
    CredentialStore(cred_path).save_account("uno_from_gptimg_a_0001", "a", "a@example.com")

    uno_cli.AuthManager().save_account("uno_from_unocli_b_0002", "b", "b@example.com")

    store = CredentialStore(cred_path)
    assert [a["name"] for a in store.accounts()] == ["a", "b"]
    assert store.active_key().api_key == "uno_from_unocli_b_0002"
