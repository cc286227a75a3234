#!/usr/bin/env python
"""Compare llama.cpp Python bindings on the packaged GGUF: speed and greedy output.

Why: `pip install -e .` spends most of its ~9 minutes compiling llama-cpp-python. A binding
with a prebuilt CPU wheel could replace it only if it runs the same GGUF at least as fast and
writes the same answers (issue 11). This script measures that instead of guessing.

What it does: builds realistic answer prompts with the project's own `build_prompt` (one
window of ~400 tokens around each test question's gold sentence from `data/articles/`,
the question from `data/testset.jsonl`), renders them with Qwen2.5's ChatML template (what
the GGUF's chat template produces for a system + user message), and lets each binding answer
them greedily (temperature 0, repeat penalty 1), every prompt read from scratch (no KV-cache
reuse). Each binding runs in its own subprocess, so a candidate can live in a separate
virtual environment: its worker needs only the standard library and the binding. Printed:
prompt tokens, first-token time, prefill and decode tokens/s (wall clock, medians), and how
many answers are identical to llama-cpp-python's, with the first divergence of the others.

    python -m venv /tmp/binding-venv
    /tmp/binding-venv/bin/pip install xllamacpp llama-cpp-py-sync
    python scripts/bench_binding.py --other /tmp/binding-venv/bin/python

`--other` may be left out (llama-cpp-python only); `--candidates` picks which bindings the
other interpreter runs (`xllamacpp`, `xllamacpp-fa` = its default flash attention,
`llama-cpp-py-sync`). Run it on an idle machine: the load average is printed with each row.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: Qwen2.5's chat template for one system and one user message (no tools).
CHATML = (
    "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
    "<|im_start|>assistant\n"
)
#: Sampler settings shared by every binding; temperature 0 makes all of them greedy.
SAMPLING = {"temperature": 0.0, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.0}
REFERENCE = "llama-cpp-python"


# --- prompts (main environment: uses the project's code) --------------------------------------
def build_prompts(count: int, window_chars: int) -> list[dict[str, str]]:
    """`count` answer prompts spread over the single-article test questions, each with
    ~window_chars of article text around the gold sentence."""
    sys.path.insert(0, str(REPO))
    from qa.prompting import build_prompt
    from qa.schema import Hit

    rows = [json.loads(line) for line in (REPO / "data" / "testset.jsonl").open(encoding="utf-8")]
    rows = [r for r in rows if isinstance(r.get("doc"), str) and r.get("context")]
    step = max(1, len(rows) // count)
    prompts = []
    for row in rows[::step][:count]:
        text = (REPO / "data" / "articles" / row["doc"]).read_text(encoding="utf-8")
        at = max(text.find(row["context"]), 0)
        start = max(0, at - window_chars // 2)
        start = text.find(" ", start) + 1 if start else 0
        end = text.rfind(" ", 0, start + window_chars)
        passage = text[start:end].strip()
        title = text.strip().splitlines()[0][:120]
        hit = Hit(chunk_id=0, article_id=row["doc"], ordinal=0, start=start, end=end,
                  text=passage, title=title, date=None, source=None, path=row["doc"], score=1.0)
        prompt = build_prompt(row["question"], [hit], lambda s: len(s) // 3, 4096, 256)
        system, user = (m.content for m in prompt.messages)
        prompts.append({"id": row["id"], "text": CHATML.format(system=system, user=user)})
    return prompts


# --- workers (any environment: standard library + one binding) -------------------------------
def run_llama_cpp_python(args: argparse.Namespace, prompts: list[dict[str, str]]) -> None:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=args.gguf, n_ctx=4096, n_batch=512, n_threads=args.threads,
                          n_threads_batch=args.threads, verbose=False)

    def answer(text: str, max_tokens: int) -> dict:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        llm.reset()  # read the whole prompt: no prefix reuse between prompts
        t0 = time.perf_counter()
        first, out, stopped = 0.0, [], False
        for tok in llm.generate(tokens, temp=SAMPLING["temperature"], top_k=SAMPLING["top_k"],
                                top_p=SAMPLING["top_p"], min_p=SAMPLING["min_p"],
                                repeat_penalty=SAMPLING["repeat_penalty"]):
            first = first or time.perf_counter()
            stopped = bool(llama_cpp.llama_vocab_is_eog(llm._model.vocab, tok))
            out.append(tok)
            if stopped or len(out) >= max_tokens:
                break
        end = time.perf_counter()
        body = out[:-1] if stopped else out
        pieces = [llm.detokenize([t]).decode("utf-8", "replace") for t in body]
        return {"prompt_tokens": len(tokens), "t0": t0, "first": first, "end": end,
                "generated": len(out), "text": llm.detokenize(body).decode("utf-8", "replace"),
                "pieces": pieces}

    emit(args, prompts, answer, llama_cpp.__version__)


def run_xllamacpp(args: argparse.Namespace, prompts: list[dict[str, str]]) -> None:
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = args.gguf
    params.n_ctx, params.n_batch, params.n_ubatch, params.n_parallel = 4096, 512, 512, 1
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = args.threads
    if args.worker == "xllamacpp":  # like llama-cpp-python; "xllamacpp-fa" keeps its auto
        params.flash_attn_type = xlc.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED
    params.verbosity = 0
    server = xlc.Server(params)

    def answer(text: str, max_tokens: int) -> dict:
        events: list[tuple[float, dict]] = []
        request = {"prompt": text, "n_predict": max_tokens, "cache_prompt": False,
                   "stream": True, **SAMPLING}
        t0 = time.perf_counter()
        server.handle_completions(request, lambda c: events.append((time.perf_counter(), c)))
        pieces = [(t, c["choices"][0]["text"]) for t, c in events if c.get("choices")]
        final = next((c for _, c in reversed(events) if "usage" in c), None)
        if final is None:
            raise RuntimeError(f"xllamacpp returned no usage: {events[-1:]}")
        return {"prompt_tokens": final["usage"]["prompt_tokens"], "t0": t0,
                "first": next(t for t, p in pieces if p), "end": events[-1][0],
                "generated": final["timings"]["predicted_n"],
                "text": "".join(p for _, p in pieces), "pieces": [p for _, p in pieces if p],
                "own_prefill": final["timings"]["prompt_per_second"],
                "own_decode": final["timings"]["predicted_per_second"]}

    emit(args, prompts, answer, xlc.__version__)


def run_llama_cpp_py_sync(args: argparse.Namespace, prompts: list[dict[str, str]]) -> None:
    from importlib.metadata import version

    from llama_cpp_py_sync import Llama

    llm = Llama(args.gguf, n_ctx=4096, n_batch=512, n_threads=args.threads,
                n_threads_batch=args.threads, flash_attn_type=0, verbose=False)

    def answer(text: str, max_tokens: int) -> dict:
        t0 = time.perf_counter()
        first, pieces = 0.0, []
        for piece in llm.generate(text, max_tokens=max_tokens, stream=True, **SAMPLING):
            first = first or time.perf_counter()
            pieces.append(piece)
        end = time.perf_counter()
        out = "".join(pieces)
        return {"prompt_tokens": len(llm.tokenize(text)), "t0": t0, "first": first, "end": end,
                "generated": len(pieces) + (len(pieces) < max_tokens), "text": out,
                "pieces": pieces}

    emit(args, prompts, answer, version("llama-cpp-py-sync"))


def emit(args: argparse.Namespace, prompts: list[dict[str, str]], answer, version: str) -> None:
    """Warm up on a short prompt, then answer all and print one JSON line each."""
    answer(CHATML.format(system="Hallo.", user="Wie geht es?"), 2)
    print(json.dumps({"version": version}), flush=True)
    for prompt in prompts:
        row = answer(prompt["text"], args.max_tokens)
        print(json.dumps({"id": prompt["id"], **row}, ensure_ascii=False), flush=True)


WORKERS = {
    "llama-cpp-python": run_llama_cpp_python,
    "xllamacpp": run_xllamacpp,
    "xllamacpp-fa": run_xllamacpp,
    "llama-cpp-py-sync": run_llama_cpp_py_sync,
}


# --- driver --------------------------------------------------------------------------------
def measure(python: str, worker: str, threads: int, gguf: str, prompts_file: str,
            max_tokens: int) -> tuple[str, list[dict], tuple[float, float]]:
    """Run one worker; return its version (or why it failed), rows, 1-min load before/after."""
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    before = os.getloadavg()[0]
    proc = subprocess.run(
        [python, __file__, "--worker", worker, "--threads", str(threads), "--gguf", gguf,
         "--prompts", prompts_file, "--max-tokens", str(max_tokens)],
        capture_output=True, text=True, env=env, check=False)
    after = os.getloadavg()[0]
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode or not lines:
        why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"failed: {why[-160:]}", [], (before, after)
    return lines[0]["version"], lines[1:], (before, after)


def divergence(ref: dict, row: dict) -> str:
    """'same', or the reference token index and text where the two answers part."""
    if ref["text"] == row["text"]:
        return "same"
    at = next((i for i, (a, b) in enumerate(zip(ref["text"], row["text"], strict=False))
               if a != b), min(len(ref["text"]), len(row["text"])))
    token, seen = 0, 0
    for token, piece in enumerate(ref["pieces"]):  # noqa: B007 - the index is the result
        seen += len(piece)
        if seen > at:
            break
    return f"token {token} (char {at}: {ref['text'][at:at + 25]!r} vs {row['text'][at:at + 25]!r})"


def summary(rows: list[dict]) -> dict[str, float]:
    med = statistics.median
    return {
        "prompt": med(r["prompt_tokens"] for r in rows),
        "ttft": med(r["first"] - r["t0"] for r in rows),
        "prefill": med(r["prompt_tokens"] / (r["first"] - r["t0"]) for r in rows),
        "decode": med((r["generated"] - 1) / (r["end"] - r["first"])
                      for r in rows if r["generated"] > 1),
        "gen": med(r["generated"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--other", help="python of the venv that has the candidate bindings")
    parser.add_argument("--candidates", nargs="+", default=["xllamacpp", "xllamacpp-fa"],
                        choices=[w for w in WORKERS if w != REFERENCE])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--window-chars", type=int, default=900,
                        help="article text per prompt (~400 prompt tokens with the rules)")
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--gguf", help="GGUF file (default: the packaged 1.5B model)")
    parser.add_argument("--show", action="store_true", help="print each answer pair")
    parser.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--prompts", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:  # inside a subprocess: one binding, one thread count
        prompts = json.loads(Path(args.prompts).read_text(encoding="utf-8"))
        args.threads = args.threads[0]
        WORKERS[args.worker](args, prompts)
        return

    sys.path.insert(0, str(REPO))
    from qa.llm.packaged import resolve_gguf
    from qa.settings import PACKAGED_GGUF

    gguf = str(resolve_gguf(args.gguf or PACKAGED_GGUF))
    prompts = build_prompts(args.questions, args.window_chars)
    runs = [(sys.executable, REFERENCE)]
    runs += [(args.other, c) for c in args.candidates] if args.other else []
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(prompts, f, ensure_ascii=False)
    print(f"{len(prompts)} prompts, greedy, max {args.max_tokens} tokens, {Path(gguf).name}, "
          f"{os.cpu_count()} CPUs\n")
    print("| binding | version | threads | n | prompt tok | first token s | prefill tok/s "
          "| decode tok/s | gen tok | same text as llama-cpp-python | load 1-min before/after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    notes: list[str] = []
    try:
        for threads in args.threads:
            reference: dict[str, dict] = {}
            for python, worker in runs:
                version, rows, load = measure(python, worker, threads, gguf, f.name,
                                              args.max_tokens)
                if not rows:
                    print(f"| {worker} | {version} | {threads} | 0 | | | | | | | "
                          f"{load[0]:.2f} / {load[1]:.2f} |", flush=True)
                    continue
                if worker == REFERENCE:
                    reference = {r["id"]: r for r in rows}
                diffs = {r["id"]: divergence(reference[r["id"]], r) for r in rows}
                same = sum(d == "same" for d in diffs.values())
                s = summary(rows)
                print(f"| {worker} | {version} | {threads} | {len(rows)} | {s['prompt']:.0f} | "
                      f"{s['ttft']:.2f} | {s['prefill']:.1f} | {s['decode']:.1f} | "
                      f"{s['gen']:.0f} | {same}/{len(rows)} | {load[0]:.2f} / {load[1]:.2f} |",
                      flush=True)
                notes += [f"- {worker}, {threads} thread(s), {i}: {d}"
                          for i, d in diffs.items() if d != "same"]
                if args.show and worker != REFERENCE:
                    for r in rows:
                        notes.append(f"- {r['id']} {REFERENCE}: {reference[r['id']]['text']!r}\n"
                                     f"  {r['id']} {worker}: {r['text']!r}")
    finally:
        os.unlink(f.name)
    print("\n" + ("\n".join(notes) if notes else "Every answer identical to llama-cpp-python's."))


if __name__ == "__main__":
    main()
