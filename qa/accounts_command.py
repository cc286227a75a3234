"""`qa users add|list|remove|passwd|role`: manage who may sign in to the chat.

    qa users add anna --role editor          # asks for the password twice
    printf '%s\\n' "$PW" | qa users add bot --password-stdin
    qa users list
    qa users remove anna

The file is `--users-file`, else QA_USERS_FILE (environment or .env), else
~/.config/newsqa/users.json ($XDG_CONFIG_HOME honoured); it is created with mode 0600 and
stores only scrypt hashes (qa/accounts.py). A running chat picks up changes without a restart.
Each command prints one line; a mistake exits 2 with "error: ...".
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from qa.accounts import (
    ROLES,
    Accounts,
    AccountsError,
    add_user,
    default_users_file,
    remove_user,
    set_password,
    set_role,
    validate_name,
    validate_password,
)

__all__ = ["add_users_parser", "resolve_users_file"]


def resolve_users_file(given: Path | None) -> Path:
    """The flag, else the chat's own setting (QA_USERS_FILE, also from .env), else the default."""
    if given is not None:
        return given.expanduser()
    env = os.environ.get("QA_USERS_FILE")
    if env:
        return Path(env).expanduser()
    try:
        from qa.settings import Settings

        configured = getattr(Settings(), "users_file", None)
    except Exception:  # a bad unrelated QA_* value must not block managing users
        configured = None
    return Path(configured).expanduser() if configured else default_users_file()


def _read_password(args: argparse.Namespace) -> str:
    """From stdin's first line (scripts), else typed twice without echo."""
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise AccountsError("--password-stdin: nothing on standard input")
        return validate_password(line.rstrip("\r\n"))
    first = getpass.getpass(f"Password for {args.name}: ")
    validate_password(first)
    if getpass.getpass("Again: ") != first:
        raise AccountsError("the passwords do not match")
    return first


def _hint(path: Path) -> str:
    """How the chat finds this file, unless QA_USERS_FILE already points at it."""
    env = os.environ.get("QA_USERS_FILE")
    if env and Path(env).expanduser().resolve() == path.resolve():
        return ""
    return f"; the chat requires sign-in when started with QA_USERS_FILE={path}"


def cmd_add(args: argparse.Namespace) -> int:
    path = resolve_users_file(args.users_file)
    validate_name(args.name)  # before asking for a password
    user = add_user(path, args.name, _read_password(args), args.role)
    print(f"Added {user.role} '{user.name}' to {path}{_hint(path)}.")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    path = resolve_users_file(args.users_file)
    users = Accounts.load(path).users()
    listing = ", ".join(f"{u.name} ({u.role})" for u in users)
    print(f"{len(users)} user{'s' * (len(users) != 1)} in {path}" + (
        f": {listing}" if users else ""))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    path = resolve_users_file(args.users_file)
    remove_user(path, args.name)
    left = len(Accounts.load(path))
    print(f"Removed '{args.name}' from {path}" + (
        "; no users left, so nobody can sign in." if not left else "."))
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    path = resolve_users_file(args.users_file)
    # a missing file or name is reported before asking for the password
    if args.name not in Accounts.load(path).names():
        raise AccountsError(f"no user '{args.name}' in {path}")
    set_password(path, args.name, _read_password(args))
    print(f"Changed the password of '{args.name}' in {path}.")
    return 0


def cmd_role(args: argparse.Namespace) -> int:
    path = resolve_users_file(args.users_file)
    user = set_role(path, args.name, args.role)
    print(f"'{user.name}' is now {'an' if user.role == 'editor' else 'a'} {user.role} in {path}.")
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    """Run the chosen `qa users` command; its mistakes are one `error:` line, exit 2."""
    try:
        return int(args.users_func(args))
    except (AccountsError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, EOFError):
        print("\ninterrupted; the users file is unchanged", file=sys.stderr)
        return 130


def add_users_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `users` on the CLI's subparsers; the handler is `args.func`."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "users", help="manage who may sign in to the chat (readers ask; editors also upload)",
        description="Manage the chat's users file (only scrypt hashes, mode 0600). The chat "
        "requires sign-in when QA_USERS_FILE points at it.",
    )
    file_flag: dict[str, Any] = {
        "type": Path, "metavar": "PATH",
        "help": "users file (default: QA_USERS_FILE, else ~/.config/newsqa/users.json)",
    }
    sub = p.add_subparsers(dest="users_command", required=True)

    q = sub.add_parser("add", help="add a user (asks for the password twice)")
    q.add_argument("name", help="1-64 letters, digits, '.', '_' or '-'")
    q.add_argument("--role", choices=ROLES, default="reader",
                   help="reader: asks questions; editor: also uploads and removes articles "
                   "(default reader)")
    q.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    q.add_argument("--users-file", **file_flag)
    q.set_defaults(users_func=cmd_add)

    q = sub.add_parser("list", help="list users and their roles")
    q.add_argument("--users-file", **file_flag)
    q.set_defaults(users_func=cmd_list)

    q = sub.add_parser("remove", help="remove a user (their open sessions lose access)")
    q.add_argument("name")
    q.add_argument("--users-file", **file_flag)
    q.set_defaults(users_func=cmd_remove)

    q = sub.add_parser("passwd", help="set a new password for a user")
    q.add_argument("name")
    q.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    q.add_argument("--users-file", **file_flag)
    q.set_defaults(users_func=cmd_passwd)

    q = sub.add_parser("role", help="change a user's role")
    q.add_argument("name")
    q.add_argument("role", choices=ROLES)
    q.add_argument("--users-file", **file_flag)
    q.set_defaults(users_func=cmd_role)

    p.set_defaults(func=cmd_users)
    return p
