#!/usr/bin/env python
"""Several people asking at once: concurrent gradio_client chats against the real app.

Starts `python app.py` on a free port with a fresh index of data/articles (or uses --url),
then `--users` clients each ask `--questions` questions of data/testset.jsonl (different
ones per user) through the `/ask` API at the same moment. Prints every answer's wall time
(queueing included), p50/p95 over all, the errors (the target is none) and the model's
share of them. The embedded model answers one question at a time; the others wait in line
(the chat shows each its place). Measure on an otherwise idle machine.

    python scripts/bench_concurrent.py --users 4 --questions 2 --llm llamacpp
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_app(llm: str, workdir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "QA_ARTICLES_DIR": str(REPO / "data" / "articles")}
    cmd = [sys.executable, "app.py", "--port", str(port), "--index-dir",
           str(workdir / "index"), "--llm", llm, "--no-share"]
    log = (workdir / "app.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited: {(workdir / 'app.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=5):
                return url, proc
        except OSError:
            time.sleep(1.0)
    proc.kill()
    raise SystemExit("app.py did not start in 10 minutes")


def ask_all(url: str, questions: list[str], backend: str) -> list[dict[str, Any]]:
    """One user: a client of its own, its questions one after another."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    out = []
    for question in questions:
        t0 = time.perf_counter()
        try:
            answer = client.predict(question, "[]", backend, 5, api_name="/ask")
            out.append({"question": question, "s": time.perf_counter() - t0, "error": None,
                        "backend": answer.get("backend"), "refused": answer.get("refused"),
                        "first_token_s": answer.get("timings", {}).get("first_token_s"),
                        "queued_s": answer.get("timings", {}).get("queued_s")})
        except Exception as exc:  # measured, not raised: every failure counts
            out.append({"question": question, "s": time.perf_counter() - t0,
                        "error": str(exc)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--questions", type=int, default=2, help="per user")
    parser.add_argument("--llm", default="llamacpp", help="backend the app and clients use")
    parser.add_argument("--url", help="an app already running (else one is started)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    cases = [json.loads(line) for line in (REPO / "data" / "testset.jsonl").open(encoding="utf-8")]
    pool = [c["question"] for c in cases if not c.get("history")]
    proc = None
    with tempfile.TemporaryDirectory(prefix="qa-concurrent-") as tmp:
        url = args.url
        if url is None:
            url, proc = start_app(args.llm, Path(tmp))
        try:
            results: list[list[dict[str, Any]]] = [[] for _ in range(args.users)]
            start = threading.Barrier(args.users)

            def user(i: int) -> None:
                mine = pool[i * args.questions:(i + 1) * args.questions]
                start.wait()
                results[i] = ask_all(url, mine, args.llm)

            threads = [threading.Thread(target=user, args=(i,)) for i in range(args.users)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
    flat = [r for rs in results for r in rs]
    times = sorted(r["s"] for r in flat if not r["error"])
    errors = [r for r in flat if r["error"]]
    print("| User | Question | Seconds | Queued s | First token s | Backend |")
    print("|---|---|---|---|---|---|")
    for i, rs in enumerate(results, 1):
        for r in rs:
            queued = f"{r['queued_s']:.1f}" if r.get("queued_s") is not None else "–"
            first = f"{r['first_token_s']:.1f}" if r.get("first_token_s") is not None else "–"
            print(f"| {i} | {r['question'][:50]} | {r['s']:.1f} | {queued} | {first} | "
                  f"{r.get('backend') or 'ERROR: ' + str(r['error'])[:60]} |")
    if times:
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        print(f"\n{args.users} users x {args.questions} questions: {len(times)}/{len(flat)} "
              f"answered, p50 {statistics.median(times):.1f} s, p95 {p95:.1f} s, "
              f"wall {wall:.1f} s, errors {len(errors)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
