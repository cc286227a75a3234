#!/usr/bin/env python
"""Overhead of `LlamaCppLLM.stream_chat` against raw llama-cpp-python, per model and threads.

Both sides get the same ~1,500-token German RAG prompt (numbered passages cut from
data/articles/*.txt plus a question), greedy decoding and the same answer budget. Each side
has its own `Llama` with identical parameters; every run starts with a unique marker so no
KV-cache prefix is reused between runs. The sides alternate order across repetitions to
spread machine noise. Reported per (model, threads): time to first token (TTFT), decode
speed (tokens after the first / time after the first) and the wrapper/raw ratio of total
time (target <= 1.1x).

Examples:
    python scripts/bench_llm.py
    python scripts/bench_llm.py --models qwen2.5-coder-0.5b-instruct-q4_k_m --threads 2 --reps 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa.llm.base import Message  # noqa: E402
from qa.llm.llamacpp import LlamaCppLLM, import_llama_cpp  # noqa: E402
from qa.llm.packaged import PACKAGED_MODELS, is_installed, resolve_gguf  # noqa: E402

SYSTEM = (
    "Du beantwortest Fragen ausschließlich anhand der nummerierten Quellen. Belege jede "
    "Aussage mit der Quellennummer in eckigen Klammern, z. B. [2]. Steht die Antwort nicht "
    "in den Quellen, sage das."
)
QUESTION = "Worüber wollten Biden und Putin sprechen, und was forderte Lawrow?"


@dataclass
class Run:
    ttft_s: float
    total_s: float
    tokens: int

    @property
    def decode_tps(self) -> float:
        span = self.total_s - self.ttft_s
        return (self.tokens - 1) / span if self.tokens > 1 and span > 0 else float("nan")


def build_messages(count: Callable[[str], int], target_tokens: int) -> list[Message]:
    """System prompt + numbered passages (paragraph groups) + question, ~target_tokens long."""
    paragraphs = [
        p.strip()
        for f in sorted((REPO / "data" / "articles").glob("*.txt"))
        for p in f.read_text(encoding="utf-8").split("\n")
        if len(p.strip()) > 80
    ]
    passages: list[str] = []
    current = ""
    used = count(SYSTEM) + count(QUESTION) + 40
    for para in paragraphs:
        if used + count(para) > target_tokens:
            break
        used += count(para) + 4
        current = f"{current} {para}".strip()
        if count(current) > 180:
            passages.append(current)
            current = ""
    if current:
        passages.append(current)
    sources = "\n\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))
    return [
        Message("system", SYSTEM),
        Message("user", f"Quellen:\n{sources}\n\nFrage: {QUESTION}"),
    ]


def measure(stream: Iterator[str], count: Callable[[str], int]) -> tuple[Run, str]:
    start = time.perf_counter()
    first: float | None = None
    pieces: list[str] = []
    for piece in stream:
        if first is None:
            first = time.perf_counter()
        pieces.append(piece)
    end = time.perf_counter()
    text = "".join(pieces)
    return Run((first or end) - start, end - start, count(text)), text


def raw_stream(llama: Any, messages: list[dict[str, str]], max_tokens: int) -> Iterator[str]:
    for chunk in llama.create_chat_completion(
        messages=messages, max_tokens=max_tokens, temperature=0.0, stream=True
    ):
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            yield piece


def marked(messages: list[Message], run_id: int) -> list[Message]:
    """A unique first token per run defeats llama.cpp's prompt-prefix reuse."""
    head, *rest = messages
    return [Message(head.role, f"(Lauf {run_id}) {head.content}"), *rest]


def bench_one(name: str, threads: int, args: argparse.Namespace) -> dict[str, Any]:
    llama_cpp = import_llama_cpp()
    path = resolve_gguf(f"packaged:{name}")
    t0 = time.perf_counter()
    wrapper = LlamaCppLLM(path, n_ctx=args.ctx, n_threads=threads, model=name)
    load_s = time.perf_counter() - t0
    raw = llama_cpp.Llama(model_path=str(path), n_ctx=args.ctx, n_threads=threads, verbose=False)
    messages = build_messages(wrapper.count_tokens, args.prompt_tokens)
    prompt_tokens = sum(wrapper.count_tokens(m.content) for m in messages)
    runs: dict[str, list[Run]] = {"raw": [], "wrapper": []}
    answer = ""
    run_id = 0
    for rep in range(args.warmup + args.reps):
        order = ("raw", "wrapper") if rep % 2 == 0 else ("wrapper", "raw")
        for side in order:
            run_id += 1
            msgs = marked(messages, run_id)
            if side == "raw":
                payload = [{"role": m.role, "content": m.content} for m in msgs]
                stream = raw_stream(raw, payload, args.max_tokens)
            else:
                stream = wrapper.stream_chat(msgs, args.max_tokens, 0.0)
            run, text = measure(stream, wrapper.count_tokens)
            if rep >= args.warmup:
                runs[side].append(run)
                answer = answer or text
            print(
                f"  {name} t={threads} {side:7s} rep {rep}: ttft {run.ttft_s:.2f}s "
                f"total {run.total_s:.2f}s {run.tokens} tok",
                file=sys.stderr,
            )
    del raw, wrapper

    def med(side: str, key: Callable[[Run], float]) -> float:
        return statistics.median(key(r) for r in runs[side])

    return {
        "model": name,
        "threads": threads,
        "load_s": load_s,
        "prompt_tokens": prompt_tokens,
        "answer": answer,
        **{
            f"{side}_{k}": med(side, fn)
            for side in ("raw", "wrapper")
            for k, fn in (
                ("ttft", lambda r: r.ttft_s),
                ("tps", lambda r: r.decode_tps),
                ("total", lambda r: r.total_s),
                ("tokens", lambda r: float(r.tokens)),
            )
        },
    }


class _InstantLlama:
    """Replays pre-built stream chunks instantly: isolates the wrapper's own Python cost."""

    def __init__(self, n: int) -> None:
        self.chunks = [{"choices": [{"delta": {"content": "Wort"}}]} for _ in range(n)]

    def create_chat_completion(self, **_: Any) -> Iterator[dict[str, Any]]:
        return iter(self.chunks)


def python_overhead_us(n: int = 200_000) -> float:
    """Extra microseconds per streamed token that stream_chat adds over the raw loop."""
    fake = _InstantLlama(n)
    llm = LlamaCppLLM.__new__(LlamaCppLLM)  # skip loading: only the streaming path is timed
    llm._llama, llm._lock = fake, threading.Lock()
    msgs = [Message("user", "x")]
    best_raw = best_ours = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _piece in raw_stream(fake, [{"role": "user", "content": "x"}], n):
            pass
        t1 = time.perf_counter()
        for _piece in llm.stream_chat(msgs, n):
            pass
        t2 = time.perf_counter()
        best_raw, best_ours = min(best_raw, t1 - t0), min(best_ours, t2 - t1)
    return (best_ours - best_raw) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="installed", help="comma list, or 'installed'")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=2, help="measured runs per side")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured runs per side first")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--prompt-tokens", type=int, default=1500)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--overhead-only", action="store_true", help="only the Python overhead")
    args = ap.parse_args()
    overhead = python_overhead_us()
    print(f"stream_chat's own Python overhead: {overhead:.2f} µs per token\n")
    if args.overhead_only:
        return
    names = (
        [n for n, m in PACKAGED_MODELS.items() if m.chat_template and is_installed(m)]
        if args.models == "installed"
        else args.models.split(",")
    )
    threads = [int(t) for t in args.threads.split(",")]
    results = [bench_one(n, t, args) for n in names for t in threads]

    llama_cpp = import_llama_cpp()
    print(
        f"\nllama-cpp-python {llama_cpp.__version__}, {platform.processor() or platform.machine()}"
        f", {os.cpu_count()} cores; greedy, max_tokens={args.max_tokens}, n_ctx={args.ctx}, "
        f"median of {args.reps} (+{args.warmup} warm-up) per side, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| model | threads | prompt tok | answer tok | TTFT raw / ours (s) "
        "| decode tok/s raw / ours | total raw / ours (s) | overhead |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['model']} | {r['threads']} | {r['prompt_tokens']} "
            f"| {r['raw_tokens']:.0f} / {r['wrapper_tokens']:.0f} "
            f"| {r['raw_ttft']:.2f} / {r['wrapper_ttft']:.2f} "
            f"| {r['raw_tps']:.1f} / {r['wrapper_tps']:.1f} "
            f"| {r['raw_total']:.2f} / {r['wrapper_total']:.2f} "
            f"| {r['wrapper_total'] / r['raw_total']:.3f}x |"
        )
    for r in results:
        if r["threads"] == threads[-1]:
            print(f"\n{r['model']} (load {r['load_s']:.1f}s) answered: {r['answer'][:300]!r}")


if __name__ == "__main__":
    main()
