"""Who may sign in to the chat: a users file the operator controls, outside the repo.

The file is JSON, ``{"users": {"anna": {"role": "editor", "hash": "scrypt$n$r$p$salt$hash"}}}``,
written atomically with mode 0600 by `qa users add|remove|passwd|role` (qa/accounts_command.py).
Passwords are stored only as scrypt hashes (stdlib `hashlib.scrypt`, a random salt per user)
and compared with `hmac.compare_digest`. An unknown name costs the same scrypt work as a known
one, so names cannot be probed by timing.

`Accounts` re-reads the file when it changes on disk, so `qa users remove` takes effect on the
running chat without a restart (a signed-in session of a removed user loses its role at once:
`role()` answers None). A file that turns unreadable fails closed: nobody signs in.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast, get_args

log = logging.getLogger(__name__)

Role = Literal["reader", "editor"]
ROLES: tuple[Role, ...] = get_args(Role)

#: scrypt cost: twice Django's default (N=2^14, r=8, p=1): 32 MiB and ~0.16 s per hash on a
#: 2-core CPU. OWASP's N=2^14, p=5 took 0.4 s, and 22 people signing in at once under load
#: then waited over 5 s (scripts/soak.py), past gradio_client's default timeout.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_DKLEN = 32
_SALT_BYTES = 16
_MAX_N = 2**20  # a hand-edited file cannot make one check take minutes
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # longer input is not a password, and scrypt would still hash it
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: Seconds a failed sign-in waits before answering (slows guessing; blocks no one else).
FAIL_DELAY_S = 0.5


class AccountsError(ValueError):
    """The users file is missing, unreadable or invalid, or a change to it is not allowed.

    A ValueError, so the CLI prints it as one `error:` line (exit code 2)."""


@dataclass(frozen=True)
class User:
    """A signed-in person: the name they signed in with and what they may do."""

    name: str
    role: Role

    @property
    def can_edit(self) -> bool:
        """Editors may upload and remove articles; readers only ask."""
        return self.role == "editor"


def default_users_file() -> Path:
    """Where `qa users` keeps the file when QA_USERS_FILE is unset: $XDG_CONFIG_HOME/newsqa."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "newsqa" / "users.json"


# --- hashing -------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_DKLEN,
                          maxmem=128 * r * (n + p + 2) + 1024 * 1024)


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt_b64$hash_b64` with a fresh random salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _parse_hash(value: str) -> tuple[int, int, int, bytes, bytes]:
    """The parts of a stored hash; ValueError when it is not one this module wrote."""
    scheme, n, r, p, salt, digest = value.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown scheme '{scheme}'")
    n_, r_, p_ = int(n), int(r), int(p)
    if not (1 < n_ <= _MAX_N and n_ & (n_ - 1) == 0 and 1 <= r_ <= 64 and 1 <= p_ <= 64):
        raise ValueError("scrypt parameters out of range")
    salt_b, digest_b = base64.b64decode(salt, validate=True), base64.b64decode(digest,
                                                                              validate=True)
    if not salt_b or len(digest_b) != _DKLEN:
        raise ValueError("salt or hash has the wrong length")
    return n_, r_, p_, salt_b, digest_b


def verify_password(password: str, stored: str) -> bool:
    """Does `password` match the stored hash (constant-time comparison)?"""
    try:
        n, r, p, salt, digest = _parse_hash(stored)
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


_DUMMY_SALT = secrets.token_bytes(_SALT_BYTES)


def _burn(password: str) -> None:
    """The scrypt work of a real check, for a name that does not exist."""
    _scrypt(password, _DUMMY_SALT, SCRYPT_N, SCRYPT_R, SCRYPT_P)


# --- validation ----------------------------------------------------------------------------


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise AccountsError(
            f"invalid user name '{name}': use 1-64 letters, digits, '.', '_' or '-'")
    return name


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountsError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountsError(f"the password must have at most {MAX_PASSWORD} characters")
    return password


def validate_role(role: str) -> Role:
    if role not in ROLES:
        raise AccountsError(f"invalid role '{role}': use {' or '.join(ROLES)}")
    return cast(Role, role)


# --- the file ------------------------------------------------------------------------------


def _check_mode(path: Path, st: os.stat_result) -> None:
    """Like ssh with its keys: a users file others can read or write is refused. Whoever can
    write it can make themselves an editor; whoever can read it can guess passwords offline."""
    if not stat.S_ISREG(st.st_mode):
        raise AccountsError(f"users file {path} is not a regular file")
    if st.st_mode & 0o077:
        raise AccountsError(
            f"users file {path} can be read or written by other users "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); fix it with: chmod 600 {path}")


def _read(path: Path) -> tuple[dict[str, dict[str, str]], tuple[int, int, int]]:
    """The users table and the file's identity (inode, size, mtime), validated."""
    try:
        with path.open("rb") as fh:
            st = os.fstat(fh.fileno())
            _check_mode(path, st)
            raw = fh.read()
    except FileNotFoundError:
        raise AccountsError(
            f"no users file at {path}; add a user with: qa users add NAME --role editor "
            f"--users-file {path}") from None
    except IsADirectoryError:
        raise AccountsError(f"users file {path} is a folder") from None
    except PermissionError:
        raise AccountsError(f"cannot read users file {path}: permission denied") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AccountsError(f"users file {path} is damaged (not JSON: {exc}); restore it from "
                            "a backup or remove it and add the users again") from None
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise AccountsError(f'users file {path} is damaged: expected {{"users": {{...}}}}')
    table: dict[str, dict[str, str]] = {}
    for name, entry in users.items():
        where = f"users file {path}, user '{name}'"
        if not isinstance(entry, dict) or not isinstance(name, str) or not _NAME.fullmatch(name):
            raise AccountsError(f"{where}: not a valid entry")
        role, stored = entry.get("role"), entry.get("hash")
        if role not in ROLES:
            raise AccountsError(f"{where}: role must be reader or editor, not {role!r}")
        try:
            _parse_hash(str(stored))
        except ValueError as exc:
            raise AccountsError(f"{where}: the password hash is damaged ({exc}); set a new "
                                f"password with: qa users passwd {name}") from None
        table[name] = {"role": str(role), "hash": str(stored)}
    return table, (st.st_ino, st.st_size, st.st_mtime_ns)


def _write(path: Path, table: dict[str, dict[str, str]]) -> None:
    """Replace the file atomically: a new 0600 file next to it, fsynced, then `os.replace`."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps({"users": dict(sorted(table.items()))}, indent=1) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # O_CREAT's mode is masked by the umask; 0600 exactly
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def _editing(path: Path, create: bool = False) -> Iterator[dict[str, dict[str, str]]]:
    """Read-modify-write under a lock, so two `qa users` commands cannot lose a change."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.lock")
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if create and not path.exists():
            table: dict[str, dict[str, str]] = {}
        else:
            table, _ = _read(path)
        before = json.dumps(table, sort_keys=True)
        yield table
        if json.dumps(table, sort_keys=True) != before or not path.exists():
            _write(path, table)
    finally:
        with contextlib.suppress(OSError):  # explicit: a forked child may share this fd
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def add_user(path: Path, name: str, password: str, role: str = "reader") -> User:
    """Add a user (creating the file); an existing name is an error, not an overwrite."""
    name, role_ = validate_name(name), validate_role(role)
    validate_password(password)
    with _editing(path, create=True) as table:
        if name in table:
            raise AccountsError(f"user '{name}' already exists; change the password with: "
                                f"qa users passwd {name}")
        table[name] = {"role": role_, "hash": hash_password(password)}
    return User(name, role_)


def remove_user(path: Path, name: str) -> None:
    with _editing(path) as table:
        if table.pop(name, None) is None:
            raise AccountsError(f"no user '{name}' in {path}")


def set_password(path: Path, name: str, password: str) -> None:
    validate_password(password)
    with _editing(path) as table:
        if name not in table:
            raise AccountsError(f"no user '{name}' in {path}")
        table[name]["hash"] = hash_password(password)


def set_role(path: Path, name: str, role: str) -> User:
    role_ = validate_role(role)
    with _editing(path) as table:
        if name not in table:
            raise AccountsError(f"no user '{name}' in {path}")
        table[name]["role"] = role_
    return User(name, role_)


class Accounts:
    """The users of one running chat, re-read when the file changes; safe across threads."""

    def __init__(self, path: Path, table: dict[str, dict[str, str]],
                 identity: tuple[int, int, int] | None = None) -> None:
        self.path = path
        self._table = table
        self._identity = identity
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path) -> Accounts:
        """Read and validate the file; AccountsError says what is wrong and how to fix it."""
        table, identity = _read(path)
        return cls(path, table, identity)

    def _fresh(self) -> dict[str, dict[str, str]]:
        """The table, re-read if the file was replaced; fails closed if it turned bad."""
        with self._lock:
            try:
                st = os.stat(self.path)
                identity: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
            except OSError:
                identity = None
            if identity != self._identity:
                try:
                    self._table, self._identity = _read(self.path)
                except AccountsError as exc:
                    log.error("Nobody can sign in until the users file is fixed: %s", exc)
                    self._table, self._identity = {}, identity
            return self._table

    def check(self, name: str, password: str) -> User | None:
        """The user when name and password match, else None (same work either way)."""
        entry = self._fresh().get(name)
        if len(password) > MAX_PASSWORD:
            return None
        if entry is None:
            _burn(password)
            return None
        if not verify_password(password, entry["hash"]):
            return None
        return User(name, validate_role(entry["role"]))

    async def authenticate(self, name: str, password: str) -> bool:
        """For `demo.launch(auth=accounts.authenticate)`: Gradio awaits a coroutine auth on its
        event loop, so the scrypt work runs in a thread and a failure waits without blocking."""
        user = await asyncio.to_thread(self.check, name, password)
        if user is None:
            log.warning("Failed sign-in for %r", name[:64])
            await asyncio.sleep(FAIL_DELAY_S)
        return user is not None

    def role(self, name: str | None) -> Role | None:
        """The role of a signed-in name now (None: unknown or removed since sign-in)."""
        entry = self._fresh().get(name) if name else None
        return validate_role(entry["role"]) if entry else None

    def user(self, name: str | None) -> User | None:
        role = self.role(name)
        return User(str(name), role) if role else None

    def names(self) -> list[str]:
        return sorted(self._fresh())

    def users(self) -> list[User]:
        return [User(n, validate_role(e["role"])) for n, e in sorted(self._fresh().items())]

    def __len__(self) -> int:
        return len(self._fresh())

    def __repr__(self) -> str:  # never the hashes
        return f"Accounts({str(self.path)!r}, {len(self._table)} users)"
