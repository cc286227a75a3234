"""The corpus change log: whole JSON lines under concurrent writers, newest first."""

from __future__ import annotations

import json
import multiprocessing
import stat
import threading
from datetime import datetime
from pathlib import Path

import pytest

from qa.corpus_log import changes_path, log_change, read_changes


def test_one_line_per_change(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    assert read_changes(index_dir) == []
    log_change(index_dir, "anna", "upload", ["a.txt", "b.md"],
               ["2 articles added, 0 updated", "Index: 7 articles"])
    log_change(index_dir, None, "remove", ["a1b2c3"], ["Removed a1b2c3."])
    path = changes_path(index_dir)
    assert path == index_dir / "corpus-changes.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert set(first) == {"time", "user", "action", "files", "summary"}
    assert (first["user"], first["action"], first["files"]) == ("anna", "upload",
                                                                ["a.txt", "b.md"])
    assert datetime.fromisoformat(first["time"]).utcoffset() is not None  # ISO, UTC
    newest = read_changes(index_dir)
    assert [c["action"] for c in newest] == ["remove", "upload"] and newest[0]["user"] is None
    assert read_changes(index_dir, limit=1) == newest[:1]


def test_unknown_action_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown corpus change 'rename'"):
        log_change(tmp_path, "anna", "rename", [], [])  # type: ignore[arg-type]


def test_a_torn_line_is_skipped(tmp_path: Path) -> None:
    log_change(tmp_path, "anna", "upload", ["a.txt"], ["ok"])
    with changes_path(tmp_path).open("a") as fh:
        fh.write('{"time": "2025-01-01T00:00:00+00:00", "user": "ben", "act')  # crash mid-line
    log_change(tmp_path, "ben", "remove", ["a.txt"], ["ok"])
    assert [c["user"] for c in read_changes(tmp_path)] == ["ben", "anna"]


def _write_many(index_dir: Path, who: str, n: int) -> None:
    summary = ["x" * 3000, "ü" * 1000]  # lines larger than a pipe buffer
    for i in range(n):
        log_change(index_dir, who, "upload", [f"{who}-{i}.txt"], summary)


def test_concurrent_writers_write_whole_lines(tmp_path: Path) -> None:
    threads = [threading.Thread(target=_write_many, args=(tmp_path, f"t{t}", 40))
               for t in range(8)]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(tmp_path, f"p{p}", 40)) for p in range(2)]
    for p in procs:  # fork before any thread runs
        p.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    lines = changes_path(tmp_path).read_bytes().split(b"\n")
    assert lines[-1] == b""
    records = [json.loads(line) for line in lines[:-1]]  # every line parses whole
    assert len(records) == 10 * 40
    seen = {r["files"][0] for r in records}
    assert len(seen) == 400
    for who in [*(f"t{t}" for t in range(8)), "p0", "p1"]:  # each writer's order kept
        mine = [int(r["files"][0].split("-")[1].split(".")[0]) for r in records
                if r["user"] == who]
        assert mine == list(range(40))
    assert len(read_changes(tmp_path, limit=None)) == 400
