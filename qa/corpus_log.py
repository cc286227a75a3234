"""Who changed the corpus: one JSON line per upload or removal (corpus-changes.jsonl).

A desk shares one index, so "where did this article come from / who removed that one" needs an
answer that survives restarts. Each line is {"time", "user", "action", "files", "summary"};
`summary` is the index report's lines as the person saw them.

Writers may be several threads of the chat and a `qa` command at once: each line is written
with one `write` on an O_APPEND descriptor under an exclusive `flock`, then fsynced, so lines
never interleave or tear. The file lives next to the generations, which builds never prune.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

CHANGES_FILE = "corpus-changes.jsonl"
Action = Literal["upload", "remove"]
ACTIONS: tuple[str, ...] = ("upload", "remove")


def changes_path(index_dir: Path) -> Path:
    return index_dir / CHANGES_FILE


def log_change(
    index_dir: Path, user: str | None, action: Action, files: list[str], summary: list[str]
) -> None:
    """Append one change to `<index_dir>/corpus-changes.jsonl` (user None: sign-in is off)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown corpus change '{action}': use upload or remove")
    record = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "user": user,
        "action": action,
        "files": [str(f) for f in files],
        "summary": [str(s) for s in summary],
    }
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    index_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(changes_path(index_dir), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # ended torn (a crash mid-write):
            data = b"\n" + data  # end that line, so this record stays a line of its own
        view = memoryview(data)
        while view:  # one write in practice; a short write is finished under the lock
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        with contextlib.suppress(OSError):  # explicit: a forked child may share this fd
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_changes(index_dir: Path, limit: int | None = 50) -> list[dict[str, Any]]:
    """The newest `limit` changes, newest first (all with None); a torn or foreign line left
    by a crash or a hand edit is skipped, not fatal."""
    path = changes_path(index_dir)
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return []
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)  # never read a line half-appended
        lines = collections.deque(fh, maxlen=None if limit is None else max(0, limit * 2 + 8))
    out: list[dict[str, Any]] = []
    for raw in reversed(lines):
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            log.warning("Skipping an unreadable line in %s", path)
            continue
        if isinstance(record, dict) and record.get("action") in ACTIONS:
            out.append(record)
        if limit is not None and len(out) >= limit:
            break
    return out
