#!/usr/bin/env python
"""llama.cpp threads for reading the prompt (prefill) and for writing tokens (decode).

For each thread count, the packaged GGUF reads a 300-token German prompt (cut from a sample
article) and writes 40 tokens, twice (a different last word each time, so no KV cache is
reused); prints prefill and decode tokens/s (medians). Run it once on an idle machine and
once with `--busy` (one spinning process takes the other core, as another user would).

    python scripts/bench_threads.py
    python scripts/bench_threads.py --busy
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as qa.llm.llamacpp sets it

from qa.llm.llamacpp import import_llama_cpp  # noqa: E402
from qa.llm.packaged import resolve_gguf  # noqa: E402
from qa.settings import PACKAGED_GGUF  # noqa: E402


def measure(threads: int, text: str, gguf: str, prompt_tokens: int) -> tuple[float, float]:
    llama_cpp = import_llama_cpp()
    llm = llama_cpp.Llama(model_path=str(resolve_gguf(gguf)), n_ctx=2048, n_threads=threads,
                          n_threads_batch=threads, verbose=False)
    prompt = llm.detokenize(llm.tokenize(text.encode())[:prompt_tokens]).decode(errors="ignore")
    prefill, decode = [], []
    for rep in range(2):
        llm.reset()
        t0 = time.perf_counter()
        first, n = 0.0, 0
        for _ in llm.create_completion(f"{prompt} {rep}", max_tokens=40, temperature=0.0,
                                       stream=True):
            n += 1
            first = first or time.perf_counter()
        end = time.perf_counter()
        prefill.append(prompt_tokens / (first - t0))
        decode.append((n - 1) / (end - first))
    return statistics.median(prefill), statistics.median(decode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--busy", action="store_true", help="keep one other core busy")
    parser.add_argument("--gguf", default=PACKAGED_GGUF)
    parser.add_argument("--prompt-tokens", type=int, default=300)
    args = parser.parse_args()
    text = sorted((REPO / "data" / "articles").glob("*.txt"))[1].read_text(encoding="utf-8")
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        print("| machine | threads | prefill tok/s | decode tok/s |\n|---|---|---|---|")
        for threads in args.threads:
            prefill, decode = measure(threads, text, args.gguf, args.prompt_tokens)
            print(f"| {'busy' if args.busy else 'idle'} | {threads} | {prefill:.0f} | "
                  f"{decode:.1f} |", flush=True)
    finally:
        if hog is not None:
            hog.kill()


if __name__ == "__main__":
    main()
