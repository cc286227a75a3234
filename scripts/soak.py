#!/usr/bin/env python
"""Soak test: a desk of signed-in users asks for minutes while an editor changes the corpus.

Starts `python app.py` on a free port with a fresh index of data/articles and a temporary
users file (QA_USERS_FILE: reader1..readerN and editor1, made with qa.accounts.add_user), then:

- N reader threads, each its own `gradio_client.Client(url, auth=(name, password))`, ask
  `/ask` in quote-only mode over and over: the chat's three examples, an off-topic question,
  an English one and follow-ups carrying their history; `--embedded-user` adds one reader on
  the embedded model;
- an editor thread that every `--editor-every` seconds uploads a small article
  (`/upload_articles`) and removes it again (`/remove_article`), checking the index after
  each change: the CURRENT generation opens, is new, is complete (manifest, SQLite, FAISS,
  BM25 agree) and holds the article or no longer does;
- a sampler reading the server's RSS every 5 s;
- once at the start: a wrong password and no sign-in are refused, and a reader cannot upload.

Prints a markdown report (latency per mode, RSS start/end/max and slope, generations checked)
and exits 1 on any error response, wrong answer, bad generation, failed check, or (with
`--max-rss-slope`) memory that keeps growing.

    python scripts/soak.py                          # 20 users, 10 minutes
    python scripts/soak.py --quick                  # 4 users, 45 s (what CI runs)
    python scripts/soak.py --embedded-user --json runs/soak.json

Importable: `run_soak(users=4, seconds=45)` returns a `SoakResult` (tests/test_soak.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 600.0
RSS_EVERY_S = 5.0
SIGN_IN_TIMEOUT_S = 120.0
QUICK = {"users": 4, "seconds": 45.0}
#: Runs this long fail when memory grows faster than this in their second half (MB/min).
LONG_RUN_S, DEFAULT_MAX_RSS_SLOPE = 300.0, 5.0

OFF_TOPIC = "Wer gewann die Fußball-WM 2014?"
ENGLISH = "What did Lavrov demand?"
#: Words the quoted answer to a chat example must contain (as tests/test_chat_api.py checks).
EXPECTED_WORDS = ("Sicherheitsgarantien", "Videogipfel", "Blinken")
#: Follow-ups: (question asked first, the follow-up asked with its history, must it be
#: answered). The second is held only to "no error": quote-only may refuse it.
FOLLOW_UPS = (
    ("Was fordert Lawrow?", "Und was sagte Blinken dazu?", True),
    ("Wie lange dauerte der Videogipfel zwischen Biden und Putin?", "Wann fand er statt?", False),
)
QUOTE_ONLY, EMBEDDED = "quote only", "embedded"


@dataclass
class ModeStats:
    """Latency of one kind of call; errors are not in the percentiles."""

    n: int = 0
    errors: int = 0
    p50_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None


@dataclass
class SoakResult:
    users: int
    seconds: float
    embedded_user: bool
    editor: bool = True
    modes: dict[str, ModeStats] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # error responses (first 50)
    unexpected: list[str] = field(default_factory=list)  # answers that are wrong (first 50)
    checks: dict[str, str] = field(default_factory=dict)  # name -> "ok" or what went wrong
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)
    rss_start_mb: float | None = None
    rss_end_mb: float | None = None
    rss_max_mb: float | None = None
    rss_slope_mb_per_min: float | None = None  # whole run
    rss_late_slope_mb_per_min: float | None = None  # second half: after warm-up
    generations_checked: int = 0
    generations_bad: list[str] = field(default_factory=list)
    changes: int = 0  # corpus changes the editor made
    change_list: list[str] = field(default_factory=list)  # "upload soak-0001.txt", in order
    failures: list[str] = field(default_factory=list)  # why the run failed; empty: passed
    server_log_tail: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def markdown(self) -> str:
        lines = [f"## Soak: {self.users} readers"
                 + (" + 1 embedded-model reader" if self.embedded_user else "")
                 + (" + 1 editor" if self.editor else "")
                 + f", {self.seconds / 60:.1f} min", "",
                 "| mode | n | errors | p50 s | p95 s | max s |", "|---|---|---|---|---|---|"]
        for mode, s in self.modes.items():
            lines.append(f"| {mode} | {s.n} | {s.errors} | {_f(s.p50_s)} | {_f(s.p95_s)} | "
                         f"{_f(s.max_s)} |")
        lines += ["", f"RSS: start {_f(self.rss_start_mb, 0)} MB, end {_f(self.rss_end_mb, 0)} "
                  f"MB, max {_f(self.rss_max_mb, 0)} MB; slope {_f(self.rss_slope_mb_per_min)} "
                  f"MB/min (second half {_f(self.rss_late_slope_mb_per_min)} MB/min), "
                  f"{len(self.rss_mb)} samples",
                  f"Index: {self.changes} corpus changes, {self.generations_checked} "
                  f"generations checked, {len(self.generations_bad)} bad",
                  "Checks: " + (", ".join(f"{k}: {v}" for k, v in self.checks.items())
                                or "none run")]
        for title, items in (("Errors", self.errors), ("Wrong answers", self.unexpected),
                             ("Bad generations", self.generations_bad)):
            if items:
                lines += ["", f"{title}:", *(f"- {x}" for x in items[:20])]
        lines += ["", "PASSED" if self.ok else "FAILED: " + "; ".join(self.failures)]
        return "\n".join(lines)


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank, as scripts/bench_concurrent.py and tests/test_chat_api.py report it."""
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


def slope_per_min(samples: list[tuple[float, float]]) -> float | None:
    """Least-squares MB per minute; None with too few samples to say."""
    if len(samples) < 3:
        return None
    ts, ys = [t / 60 for t, _ in samples], [y for _, y in samples]
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    var = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / var if var else None


# --- the app -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process (psutil if installed, else /proc)."""
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        pass
    except Exception:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def start_app(workdir: Path, users_file: Path | None, log: Callable[[str], None],
              app: str = "app.py") -> tuple[str, subprocess.Popen[bytes]]:
    """`python app.py` on a free port with its own index (built from data/articles)."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "QA_LLM": "extractive", "QA_ARTICLES_DIR": str(REPO / "data" / "articles")}
    env.pop("QA_USERS_FILE", None)
    env.pop("QA_READ_ONLY", None)
    if users_file is not None:
        env["QA_USERS_FILE"] = str(users_file)
    cmd = [sys.executable, app, "--host", "127.0.0.1", "--port", str(port),
           "--index-dir", str(workdir / "index"), "--llm", "extractive", "--no-share"]
    with (workdir / "app.log").open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    log(f"Starting the app on {url} (builds the index first) …")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}:\n{_tail(workdir)}")
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=5):
                return url, proc
        except urllib.error.HTTPError:  # 401 and the like: up, and asking for sign-in
            return url, proc
        except OSError:
            time.sleep(1.0)
    stop_app(proc)
    raise RuntimeError(f"app.py did not start within {START_TIMEOUT_S:.0f} s:\n{_tail(workdir)}")


def stop_app(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _tail(workdir: Path, chars: int = 4000) -> str:
    try:
        return (workdir / "app.log").read_text(errors="replace")[-chars:]
    except OSError:
        return ""


# --- the index -----------------------------------------------------------------------------


def check_generation(index_dir: Path) -> tuple[str | None, set[str], list[str]]:
    """(live generation, file names of its articles, problems): CURRENT points at a whole
    folder; manifest, SQLite, FAISS and BM25 agree; no build left a temporary generation."""
    from qa.store import IndexMissingError, current_folder, open_index

    problems: list[str] = []
    folder = current_folder(index_dir)
    if folder is None or not folder.is_dir():
        return None, set(), [f"CURRENT points at {folder}, which is not a folder"]
    for part in ("manifest.json", "meta.sqlite", "dense.faiss", "bm25"):
        if not (folder / part).exists():
            problems.append(f"{folder.name} has no {part}")
    try:
        store = open_index(index_dir)
    except IndexMissingError as exc:
        return folder.name, set(), [*problems, str(exc)]
    rows = store.articles()
    in_db = {r["id"] for r in rows}
    listed = {a for entry in store.manifest.files.values() for a in entry.articles}
    if in_db != listed:
        problems.append(f"{store.folder.name}: {len(in_db - listed)} articles not in the "
                        f"manifest, {len(listed - in_db)} listed but missing")
    if any(r["chunks"] == 0 for r in rows):
        problems.append(f"{store.folder.name}: an article without chunks")
    leftovers = [p.name for p in index_dir.glob(".tmp-gen-*")]
    if leftovers:
        problems.append(f"temporary generations left behind: {', '.join(leftovers)}")
    return store.folder.name, {Path(r["path"]).name for r in rows}, problems


def soak_article(number: int) -> str:
    """A small article no soak question is about, unique per upload (no duplicate refusal)."""
    return (f"Stadtrat beschließt Bibliothek Nummer {number}\n\n"
            f"Beispielstadt (dpa) - Der Stadtrat von Beispielstadt hat den Bau der "
            f"Stadtteilbibliothek Nummer {number} beschlossen. Die Baukosten liegen bei "
            f"{number + 3} Millionen Euro. Die Eröffnung ist für das Jahr "
            f"{2030 + number % 20} geplant, teilte die Verwaltung mit. "
            f"Kennung {secrets.token_hex(6)}.\n")


# --- the run -------------------------------------------------------------------------------


class _Recorder:
    """Latencies and problems from every thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}
        self.error_counts: dict[str, int] = {}
        self.errors: list[str] = []
        self.unexpected: list[str] = []
        self.error_total = 0
        self.unexpected_total = 0

    def ok(self, mode: str, seconds: float) -> None:
        with self.lock:
            self.times.setdefault(mode, []).append(seconds)
            self.error_counts.setdefault(mode, 0)

    def error(self, mode: str, what: str, exc: BaseException) -> None:
        with self.lock:
            self.times.setdefault(mode, [])
            self.error_counts[mode] = self.error_counts.get(mode, 0) + 1
            self.error_total += 1
            if len(self.errors) < 50:
                self.errors.append(f"{mode} · {what}: {type(exc).__name__}: {str(exc)[:300]}")

    def wrong(self, what: str) -> None:
        with self.lock:
            self.unexpected_total += 1
            if len(self.unexpected) < 50:
                self.unexpected.append(what)

    def stats(self) -> dict[str, ModeStats]:
        out = {}
        for mode, times in self.times.items():
            s = sorted(times)
            out[mode] = ModeStats(len(s) + self.error_counts.get(mode, 0),
                                  self.error_counts.get(mode, 0),
                                  statistics.median(s) if s else None,
                                  percentile(s, 0.95) if s else None, s[-1] if s else None)
        return out


def _client(url: str, auth: tuple[str, str] | None, workdir: Path) -> Any:
    from gradio_client import Client

    # a browser waits for its sign-in; gradio_client gives up after httpx's 5 s, which a desk
    # signing in at once under load can pass: wait like a browser and report the time. (This
    # also bounds the answer streams, which Gradio keeps alive with a heartbeat every 15 s.)
    return Client(url, auth=auth, verbose=False, analytics_enabled=False,
                  download_files=str(workdir / "downloads"),
                  httpx_kwargs={"timeout": SIGN_IN_TIMEOUT_S})


def _questions(examples: list[str]) -> list[tuple[str, str, str | None]]:
    """(kind, question, question whose answer is its history) in the order a reader asks."""
    plan: list[tuple[str, str, str | None]] = [("example", q, None) for q in examples]
    plan += [("off-topic", OFF_TOPIC, None), ("english", ENGLISH, None)]
    plan += [("follow-up" if must else "follow-up (may refuse)", follow, first)
             for first, follow, must in FOLLOW_UPS]
    return plan


def _judge(kind: str, question: str, result: Any, backend: str, expected: dict[str, str]
           ) -> str | None:
    """What is wrong with an answer, or None. The embedded model is only held to the shape."""
    if not isinstance(result, dict) or not isinstance(result.get("answer"), str):
        return f"not an answer object: {str(result)[:200]}"
    if result.get("question") != question:
        return f"answer to another question: {result.get('question')!r}"
    if backend != QUOTE_ONLY:
        return None
    if result.get("backend") != "extractive":
        return f"answered by {result.get('backend')}, not quote-only"
    if kind == "off-topic" and not result.get("refused"):
        return f"answered an off-topic question: {result['answer'][:120]}"
    word = expected.get(question)
    if word and (result.get("refused") or word not in result["answer"]):
        return f"expected '{word}' in: {result['answer'][:160]}"
    if kind == "follow-up" and result.get("refused"):
        return "refused a follow-up the articles answer"
    return None


def _reader(i: int, name: str, password: str | None, backend: str, url: str, workdir: Path,
            deadline: float, think_s: float, rec: _Recorder, examples: list[str],
            expected: dict[str, str]) -> None:
    """One person: signs in, then asks until the deadline (its own order, short pauses)."""
    mode = "quote-only" if backend == QUOTE_ONLY else backend
    rng = random.Random(i)
    t0 = time.perf_counter()
    try:
        client = _client(url, (name, password) if password else None, workdir)
        rec.ok("sign-in", time.perf_counter() - t0)
    except Exception as exc:
        rec.error("sign-in", name, exc)
        return
    plan = _questions(examples)
    answers: dict[str, str] = {}
    step = i
    try:
        while time.monotonic() < deadline:
            kind, question, first = plan[step % len(plan)]
            step += 1
            history = "[]"
            if first is not None:
                history = json.dumps([{"role": "user", "content": first},
                                      {"role": "assistant", "content": answers.get(first, "")}],
                                     ensure_ascii=False)
            t0 = time.perf_counter()
            try:
                result = client.predict(question, history, backend, 5, api_name="/ask")
            except Exception as exc:
                rec.error(mode, f"{name}: {question}", exc)
            else:
                rec.ok(mode, time.perf_counter() - t0)
                problem = _judge(kind, question, result, backend, expected)
                if problem:
                    rec.wrong(f"{mode} · {name}: {question}: {problem}")
                else:
                    answers[question] = str(result["answer"])
            time.sleep(rng.uniform(0, think_s))
    finally:
        client.close()


def _editor(name: str, password: str | None, url: str, workdir: Path, deadline: float,
            every_s: float, rec: _Recorder, result: SoakResult) -> None:
    """Upload an article, check the index, remove it, check again; until the deadline (the
    last article is removed even after it, so the corpus ends as it began)."""
    from gradio_client import handle_file

    index_dir, src = workdir / "index", workdir / "to-upload"
    src.mkdir(exist_ok=True)
    try:
        client = _client(url, (name, password) if password else None, workdir)
    except Exception as exc:
        rec.error("upload", f"{name} signing in", exc)
        return

    def check(after: str, file_name: str, present: bool, before: str | None) -> str | None:
        generation, names, problems = check_generation(index_dir)
        result.generations_checked += 1
        if generation == before:
            problems.append(f"no new generation after {after} (still {generation})")
        if (file_name in names) != present:
            problems.append(f"{file_name} {'missing' if present else 'still indexed'} "
                            f"after {after}")
        result.generations_bad += [f"after {after} of {file_name}: {p}" for p in problems]
        return generation

    generation, _, problems = check_generation(index_dir)
    result.generations_checked += 1
    result.generations_bad += [f"at the start: {p}" for p in problems]
    number, next_at = 0, time.monotonic() + min(2.0, every_s / 4)
    try:
        while time.monotonic() < deadline:
            time.sleep(max(0.0, next_at - time.monotonic()))
            if time.monotonic() >= deadline:
                break
            number += 1
            path = src / f"soak-{number:04d}.txt"
            path.write_text(soak_article(number), encoding="utf-8")
            t0 = time.perf_counter()
            try:
                report = client.predict([handle_file(str(path))], api_name="/upload_articles")
            except Exception as exc:
                rec.error("upload", path.name, exc)
                generation = check_generation(index_dir)[0]
            else:
                rec.ok("upload", time.perf_counter() - t0)
                result.changes += 1
                result.change_list.append(f"upload {path.name}")
                if not isinstance(report, str):
                    rec.wrong(f"upload · {path.name}: report is not text: {str(report)[:120]}")
                generation = check("upload", path.name, True, generation)
            time.sleep(max(0.0, min(every_s / 2, deadline - time.monotonic())))
            t0 = time.perf_counter()
            try:
                report = client.predict(path.name, api_name="/remove_article")
            except Exception as exc:
                rec.error("remove", path.name, exc)
                generation = check_generation(index_dir)[0]
            else:
                rec.ok("remove", time.perf_counter() - t0)
                result.changes += 1
                result.change_list.append(f"remove {path.name}")
                generation = check("removal", path.name, False, generation)
            next_at += every_s
    finally:
        client.close()


def _sign_in_checks(url: str, workdir: Path, reader: tuple[str, str], editor: tuple[str, str],
                    index_dir: Path) -> dict[str, str]:
    """Sign-in is required and holds: wrong passwords and anonymous calls are refused, and
    a reader cannot change the corpus."""
    from gradio_client import handle_file

    checks: dict[str, str] = {}
    try:
        _client(url, (reader[0], reader[1] + "-wrong"), workdir).close()
        checks["wrong password refused"] = "FAILED: signed in"
    except Exception:
        checks["wrong password refused"] = "ok"
    try:
        anonymous = _client(url, None, workdir)
        try:
            anonymous.predict("Was fordert Lawrow?", api_name="/ask")
            checks["no sign-in refused"] = "FAILED: /ask answered without sign-in"
        finally:
            anonymous.close()
    except Exception:
        checks["no sign-in refused"] = "ok"
    path = workdir / "reader-upload.txt"
    path.write_text(soak_article(9999), encoding="utf-8")
    client = _client(url, reader, workdir)
    try:
        client.predict([handle_file(str(path))], api_name="/upload_articles")
    except Exception:
        checks["reader cannot upload"] = "ok"
    else:
        checks["reader cannot upload"] = "FAILED: a reader's upload went through"
    finally:
        client.close()
    if path.name in check_generation(index_dir)[1]:
        checks["reader cannot upload"] = "FAILED: a reader's upload was indexed"
        cleanup = _client(url, editor, workdir)
        try:
            cleanup.predict(path.name, api_name="/remove_article")
        finally:
            cleanup.close()
    return checks


def _check_change_log(index_dir: Path, editor: str, made: list[str]) -> str:
    """corpus-changes.jsonl names the editor's changes, in order, and nobody else's."""
    from qa.corpus_log import read_changes

    records = list(reversed(read_changes(index_dir, limit=None)))
    others = sorted({str(r.get("user")) for r in records} - {editor})
    logged = [f"{r['action']} {','.join(r['files'])}" for r in records if r["user"] == editor]
    if others:
        return f"FAILED: changes logged for {', '.join(others)}"
    if logged != made:
        return f"FAILED: logged {len(logged)} changes, the editor made {len(made)}: {logged[:4]}"
    return "ok"


def run_soak(
    users: int = 20,
    seconds: float = 600.0,
    embedded_user: bool = False,
    editor_every_s: float = 20.0,
    think_s: float = 1.0,
    sign_in: bool = True,
    editor: bool = True,
    max_rss_slope: float | None = None,
    app: str = "app.py",
    log: Callable[[str], None] = print,
) -> SoakResult:
    """Start the app, soak it for `seconds`, stop it; the result says whether it held.

    `sign_in=False` / `editor=False` soak an app without sign-in or corpus endpoints.
    `max_rss_slope` (MB/min over the second half) turns growing memory into a failure."""
    from qa.accounts import add_user
    from qa.chat_ui import EXAMPLES

    examples = list(EXAMPLES)
    expected = dict(zip(examples, EXPECTED_WORDS, strict=False))
    result = SoakResult(users, seconds, embedded_user, editor)
    rec = _Recorder()
    workdir = Path(tempfile.mkdtemp(prefix="qa-soak-"))
    passwords: dict[str, str | None] = {}
    users_file: Path | None = None
    if sign_in:
        users_file = workdir / "users.json"
        names = [f"reader{i}" for i in range(1, users + 1 + embedded_user)]
        for name in [*names, "editor1"]:
            passwords[name] = secrets.token_urlsafe(12)
            add_user(users_file, name, str(passwords[name]),
                     "editor" if name == "editor1" else "reader")
    proc = None
    try:
        url, proc = start_app(workdir, users_file, log, app)
        pid = proc.pid
        if sign_in:
            result.checks = _sign_in_checks(
                url, workdir, ("reader1", str(passwords["reader1"])),
                ("editor1", str(passwords["editor1"])), workdir / "index")
        t_start = time.monotonic()
        deadline = t_start + seconds
        stop = threading.Event()

        def sample() -> None:
            while True:
                value = rss_mb(pid)
                if value is not None:
                    result.rss_mb.append((round(time.monotonic() - t_start, 1), round(value, 1)))
                if stop.wait(RSS_EVERY_S):
                    return

        threads = [threading.Thread(target=sample, name="rss", daemon=True)]
        for i in range(users + embedded_user):
            backend = EMBEDDED if i == users else QUOTE_ONLY
            name = f"reader{i + 1}"
            threads.append(threading.Thread(
                target=_reader, name=name, daemon=True,
                args=(i, name, passwords.get(name), backend, url, workdir, deadline, think_s,
                      rec, examples, expected)))
        if editor:
            threads.append(threading.Thread(
                target=_editor, name="editor", daemon=True,
                args=("editor1", passwords.get("editor1"), url, workdir, deadline,
                      editor_every_s, rec, result)))
        log(f"Soaking: {users} readers{' + embedded' if embedded_user else ''}"
            f"{' + editor' if editor else ''} for {seconds:.0f} s …")
        for t in threads:
            t.start()
        for t in threads[1:]:
            t.join(timeout=max(0.0, deadline - time.monotonic()) + 600)
        stop.set()
        threads[0].join(timeout=10)
        if editor:
            generation, _, problems = check_generation(workdir / "index")
            result.generations_checked += 1
            result.generations_bad += [f"at the end ({generation}): {p}" for p in problems]
        if editor and sign_in:
            result.checks["corpus changes logged"] = _check_change_log(
                workdir / "index", "editor1", result.change_list)
        if proc.poll() is not None:
            result.failures.append(f"the app exited with {proc.returncode}")
    except Exception as exc:  # the server log tail says the rest
        result.failures.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    finally:
        if proc is not None:
            stop_app(proc)
        result.server_log_tail = _tail(workdir) if (result.failures or rec.error_total) else ""
        shutil.rmtree(workdir, ignore_errors=True)
    _summarise(result, rec, users, embedded_user, max_rss_slope)
    return result


def _summarise(result: SoakResult, rec: _Recorder, users: int, embedded_user: bool,
               max_rss_slope: float | None) -> None:
    result.modes = {m: s for m, s in sorted(rec.stats().items(), key=lambda kv: _order(kv[0]))}
    result.errors, result.unexpected = rec.errors, rec.unexpected
    samples = result.rss_mb
    if samples:
        result.rss_start_mb, result.rss_end_mb = samples[0][1], samples[-1][1]
        result.rss_max_mb = max(v for _, v in samples)
        result.rss_slope_mb_per_min = slope_per_min(samples)
        result.rss_late_slope_mb_per_min = slope_per_min(samples[len(samples) // 2:])
    f = result.failures
    if rec.error_total:
        f.append(f"{rec.error_total} error responses")
    if rec.unexpected_total:
        f.append(f"{rec.unexpected_total} wrong answers")
    if result.generations_bad:
        f.append(f"{len(result.generations_bad)} bad index generations")
    f += [f"{name}: {state}" for name, state in result.checks.items() if state != "ok"]
    if users and not rec.times.get("quote-only"):
        f.append("no quote-only answer was measured")
    if embedded_user and not rec.times.get("embedded"):
        f.append("no embedded-model answer was measured")
    late = result.rss_late_slope_mb_per_min
    if max_rss_slope is not None and late is not None and late > max_rss_slope:
        f.append(f"memory grows {late:.1f} MB/min in the second half "
                 f"(limit {max_rss_slope:.1f})")


def _order(mode: str) -> int:
    known = ["quote-only", "embedded", "sign-in", "upload", "remove"]
    return known.index(mode) if mode in known else len(known)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help="quote-only readers (default 20)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--quick", action="store_true",
                        help=f"CI preset: {QUICK['users']} users, {QUICK['seconds']:.0f} s")
    parser.add_argument("--embedded-user", action="store_true",
                        help="one more reader on the embedded model")
    parser.add_argument("--editor-every", type=float, default=20.0,
                        help="seconds between the editor's uploads (default 20)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="most seconds a reader pauses between questions (default 1)")
    parser.add_argument("--max-rss-slope", type=float,
                        help="fail when memory grows faster (MB/min, second half of the run; "
                        f"default {DEFAULT_MAX_RSS_SLOPE:g} for runs of {LONG_RUN_S / 60:g} "
                        "minutes or more)")
    parser.add_argument("--no-sign-in", dest="sign_in", action="store_false",
                        help="soak an app without sign-in (no users file, no sign-in checks)")
    parser.add_argument("--no-editor", dest="editor", action="store_false",
                        help="no corpus changes (an app without the upload/remove API)")
    parser.add_argument("--app", default="app.py",
                        help="the entry point to start, as `python APP --host --port "
                        "--index-dir --llm --no-share` (default app.py)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    users, seconds = args.users, args.minutes * 60
    if args.quick:
        users, seconds = int(QUICK["users"]), float(QUICK["seconds"])
    max_slope = args.max_rss_slope
    if max_slope is None and seconds >= LONG_RUN_S:  # long enough to tell growth from warm-up
        max_slope = DEFAULT_MAX_RSS_SLOPE
    result = run_soak(users=users, seconds=seconds, embedded_user=args.embedded_user,
                      editor_every_s=args.editor_every, think_s=args.think,
                      sign_in=args.sign_in, editor=args.editor,
                      max_rss_slope=max_slope, app=args.app,
                      log=lambda s: print(s, file=sys.stderr, flush=True))
    print(result.markdown())
    if result.server_log_tail:
        print("\nServer log (tail):\n" + result.server_log_tail, file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**asdict(result), "ok": result.ok}, indent=1,
                                        ensure_ascii=False), encoding="utf-8")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
