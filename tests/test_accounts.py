"""The users file (qa/accounts.py) and `qa users` (qa/accounts_command.py)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import re
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

import qa.accounts as accounts
from qa.accounts import (
    Accounts,
    AccountsError,
    User,
    add_user,
    hash_password,
    remove_user,
    set_password,
    set_role,
    verify_password,
)
from qa.accounts_command import add_users_parser, resolve_users_file

PW = "correct horse"


@pytest.fixture(autouse=True)
def cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests hash dozens of passwords; the format test checks the real cost separately."""
    monkeypatch.setattr(accounts, "SCRYPT_N", 2**8)
    monkeypatch.setattr(accounts, "FAIL_DELAY_S", 0.0)


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    return tmp_path / "conf" / "users.json"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_hash_format_and_default_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real parameters
    stored = hash_password(PW)
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "32768", "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) == 32
    assert verify_password(PW, stored)
    assert not verify_password(PW + "!", stored)
    assert hash_password(PW) != stored  # a fresh salt every time
    assert not verify_password(PW, "plain-text")


def test_add_user_writes_a_private_file_of_hashes(users_file: Path) -> None:
    old = os.umask(0)  # 0600 regardless of the umask
    try:
        assert add_user(users_file, "anna", PW, "editor") == User("anna", "editor")
    finally:
        os.umask(old)
    assert mode(users_file) == 0o600
    assert mode(users_file.parent) == 0o700
    text = users_file.read_text()
    assert PW not in text
    data = json.loads(text)
    assert set(data) == {"users"} and data["users"]["anna"]["role"] == "editor"
    assert data["users"]["anna"]["hash"].startswith("scrypt$")
    assert sorted(p.name for p in users_file.parent.iterdir()) == [".users.json.lock",
                                                                    "users.json"]


def test_check_role_and_names(users_file: Path) -> None:
    add_user(users_file, "anna", PW, "editor")
    add_user(users_file, "ben", "another pw", "reader")
    acc = Accounts.load(users_file)
    assert acc.check("anna", PW) == User("anna", "editor")
    assert acc.check("anna", PW).can_edit  # type: ignore[union-attr]
    assert acc.check("ben", "another pw") == User("ben", "reader")
    assert acc.check("anna", "another pw") is None
    assert acc.check("nobody", PW) is None
    assert acc.check("", "") is None
    assert acc.check("anna", "x" * 5000) is None
    assert (acc.role("anna"), acc.role("ben"), acc.role("nobody"), acc.role(None)) == (
        "editor", "reader", None, None)
    assert acc.names() == ["anna", "ben"] and len(acc) == 2
    assert "scrypt" not in repr(acc)


def test_unknown_names_cost_the_same_work(users_file: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    add_user(users_file, "anna", PW)
    acc = Accounts.load(users_file)
    calls: list[tuple[int, int, int]] = []
    real = accounts._scrypt

    def counting(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        calls.append((n, r, p))
        return real(password, salt, n, r, p)

    monkeypatch.setattr(accounts, "_scrypt", counting)
    acc.check("anna", "wrong password")
    known = list(calls)
    calls.clear()
    acc.check("nobody", "wrong password")
    assert calls == known and len(known) == 1


def test_changes_reach_a_running_chat(users_file: Path) -> None:
    add_user(users_file, "anna", PW, "editor")
    acc = Accounts.load(users_file)
    add_user(users_file, "ben", PW)
    assert acc.check("ben", PW) == User("ben", "reader")
    set_role(users_file, "ben", "editor")
    assert acc.role("ben") == "editor"
    set_password(users_file, "ben", "new password")
    assert acc.check("ben", PW) is None and acc.check("ben", "new password") is not None
    remove_user(users_file, "ben")
    assert acc.check("ben", "new password") is None and acc.role("ben") is None
    assert acc.user("anna") == User("anna", "editor")


def test_a_file_that_turns_bad_lets_nobody_in(users_file: Path) -> None:
    add_user(users_file, "anna", PW)
    acc = Accounts.load(users_file)
    users_file.write_text("{broken")
    assert acc.check("anna", PW) is None and acc.names() == []
    users_file.unlink()
    assert acc.role("anna") is None


def test_a_failed_write_leaves_the_old_file(users_file: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    add_user(users_file, "anna", PW)
    before = users_file.read_bytes()

    def broken(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(accounts.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        add_user(users_file, "ben", PW)
    assert users_file.read_bytes() == before
    assert not [p for p in users_file.parent.iterdir() if p.name.endswith(".tmp")]


def test_concurrent_adds_lose_no_user(users_file: Path) -> None:
    threads = [threading.Thread(target=add_user, args=(users_file, f"u{i}", PW))
               for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Accounts.load(users_file).names() == sorted(f"u{i}" for i in range(12))


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "is damaged (not JSON"),
    ('["anna"]', 'expected {"users": {...}}'),
    ('{"users": {"anna": {"role": "admin", "hash": "x"}}}', "role must be reader or editor"),
    ('{"users": {"anna": {"role": "reader", "hash": "scrypt$1$8$1$AA==$AA=="}}}',
     "password hash is damaged"),
    ('{"users": {"bad name": {"role": "reader", "hash": "x"}}}', "not a valid entry"),
])
def test_a_damaged_file_is_named_with_what_is_wrong(users_file: Path, content: str,
                                                    message: str) -> None:
    users_file.parent.mkdir()
    users_file.write_text(content)
    users_file.chmod(0o600)
    with pytest.raises(AccountsError, match=re.escape(message)):
        Accounts.load(users_file)


def test_missing_and_too_open_files(users_file: Path) -> None:
    with pytest.raises(AccountsError, match=r"no users file at .*qa users add NAME --role editor"):
        Accounts.load(users_file)
    add_user(users_file, "anna", PW)
    users_file.chmod(0o644)
    with pytest.raises(AccountsError, match=r"mode 0644\); fix it with: chmod 600"):
        Accounts.load(users_file)
    with pytest.raises(AccountsError, match="chmod 600"):  # nor is it edited
        add_user(users_file, "ben", PW)


@pytest.mark.parametrize("name", ["", "a b", "anna/..", "ä", "x" * 65, "../etc"])
def test_bad_names_are_refused(users_file: Path, name: str) -> None:
    with pytest.raises(AccountsError, match="invalid user name"):
        add_user(users_file, name, PW)


def test_password_role_and_duplicate_rules(users_file: Path) -> None:
    with pytest.raises(AccountsError, match="at least 8 characters"):
        add_user(users_file, "anna", "short")
    with pytest.raises(AccountsError, match="invalid role 'admin'"):
        add_user(users_file, "anna", PW, "admin")
    assert not users_file.exists()
    add_user(users_file, "a.b_c-1", PW)
    with pytest.raises(AccountsError, match="already exists; change the password with"):
        add_user(users_file, "a.b_c-1", PW)
    with pytest.raises(AccountsError, match="no user 'ghost'"):
        remove_user(users_file, "ghost")


def test_authenticate_for_gradio(users_file: Path) -> None:
    add_user(users_file, "anna", PW)
    acc = Accounts.load(users_file)
    assert asyncio.run(acc.authenticate("anna", PW)) is True
    assert asyncio.run(acc.authenticate("anna", "wrong password")) is False
    assert asyncio.run(acc.authenticate("nobody", PW)) is False


# --- qa users ------------------------------------------------------------------------------


def run_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch, stdin: str = "") -> int:
    parser = argparse.ArgumentParser(prog="qa")
    add_users_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return int(args.func(args))


def test_cli_add_list_remove(users_file: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("QA_USERS_FILE", raising=False)
    f = ["--users-file", str(users_file)]
    assert run_cli(["users", "add", "anna", "--role", "editor", "--password-stdin", *f],
                   monkeypatch, stdin=PW + "\n") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Added editor 'anna' to {users_file}; the chat requires sign-in "
                          f"when started with QA_USERS_FILE={users_file}.")
    assert len(out.splitlines()) == 1
    assert Accounts.load(users_file).check("anna", PW) == User("anna", "editor")

    assert run_cli(["users", "add", "ben", "--password-stdin", *f], monkeypatch,
                   stdin="reader pw 1\r\n") == 0
    assert Accounts.load(users_file).check("ben", "reader pw 1") == User("ben", "reader")
    capsys.readouterr()

    assert run_cli(["users", "list", *f], monkeypatch) == 0
    assert capsys.readouterr().out == f"2 users in {users_file}: anna (editor), ben (reader)\n"

    assert run_cli(["users", "role", "ben", "editor", *f], monkeypatch) == 0
    assert "'ben' is now an editor" in capsys.readouterr().out
    assert run_cli(["users", "passwd", "ben", "--password-stdin", *f], monkeypatch,
                   stdin="changed pw 2\n") == 0
    assert Accounts.load(users_file).check("ben", "changed pw 2") is not None

    assert run_cli(["users", "remove", "ben", *f], monkeypatch) == 0
    assert capsys.readouterr().out.endswith(f"Removed 'ben' from {users_file}.\n")
    assert run_cli(["users", "remove", "anna", *f], monkeypatch) == 0
    assert "no users left, so nobody can sign in" in capsys.readouterr().out


def test_cli_errors_are_one_line_exit_2(users_file: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    f = ["--users-file", str(users_file)]
    cases: list[tuple[list[str], str, str]] = [
        (["users", "list", *f], "", "error: no users file at"),
        (["users", "add", "anna", "--password-stdin", *f], "short\n",
         "error: the password must have at least 8 characters"),
        (["users", "add", "anna", "--password-stdin", *f], "", "error: --password-stdin: nothing"),
        (["users", "add", "a b", "--password-stdin", *f], PW, "error: invalid user name"),
        (["users", "remove", "ghost", *f], "", "error: no users file"),
    ]
    for argv, stdin, message in cases:
        assert run_cli(argv, monkeypatch, stdin) == 2
        err = capsys.readouterr().err
        assert err.startswith(message) and len(err.splitlines()) == 1, err
    run_cli(["users", "add", "anna", "--password-stdin", *f], monkeypatch, PW)
    assert run_cli(["users", "passwd", "ghost", "--password-stdin", *f], monkeypatch, PW) == 2
    assert capsys.readouterr().err.startswith("error: no user 'ghost'")


def test_cli_asks_twice_without_stdin(users_file: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    typed = iter([PW, PW + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    argv = ["users", "add", "anna", "--users-file", str(users_file)]
    assert run_cli(argv, monkeypatch) == 2
    assert "error: the passwords do not match" in capsys.readouterr().err
    assert not users_file.exists()
    typed = iter([PW, PW])
    assert run_cli(argv, monkeypatch) == 0
    assert Accounts.load(users_file).check("anna", PW) is not None


def test_users_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("QA_USERS_FILE", str(tmp_path / "env.json"))
    assert resolve_users_file(None) == tmp_path / "env.json"
    assert resolve_users_file(tmp_path / "flag.json") == tmp_path / "flag.json"
    monkeypatch.delenv("QA_USERS_FILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert resolve_users_file(None) == tmp_path / "cfg" / "newsqa" / "users.json"
