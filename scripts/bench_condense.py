#!/usr/bin/env python
"""Follow-up questions: is the instant rewrite as good a search query as the model's?

For every case with a conversation history in the question set (data/testset.jsonl has 8),
the search query is made twice: by `heuristic_condense` (the previous question's words in
front of the follow-up, no model) and by the embedded model rewriting it (the `condense:
model` setting), then the configured index is searched. Prints the rank of the first gold
passage for each, recall@1/@5 and the time each rewrite took.

    python scripts/bench_condense.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa.answer import Answerer  # noqa: E402
from qa.evaluation.metrics import RetrievedChunk, first_hit_rank  # noqa: E402
from qa.evaluation.testset import load_testset  # noqa: E402
from qa.llm.select import load_llamacpp  # noqa: E402
from qa.prompting import heuristic_condense  # noqa: E402
from qa.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("testset", nargs="?", type=Path, default=REPO / "data/testset.jsonl")
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args()
    settings = Settings()
    answerer = Answerer(settings)
    llm = load_llamacpp(settings)
    cases = [c for c in load_testset(args.testset) if c.history and not c.unanswerable]
    rows = []
    for case in cases:
        row: list[Any] = [case.id, case.question[:40]]
        for how in ("heuristic", "model"):
            t0 = time.perf_counter()
            if how == "heuristic":
                query = heuristic_condense(case.question, case.history)
            else:
                query = answerer._condense(case.question, case.history, llm)
            took = time.perf_counter() - t0
            hits = answerer.retriever.search(query, args.k)
            rank = first_hit_rank([RetrievedChunk(Path(h.path).name, h.text)
                                   for h in hits], case)
            row += [rank, took]
        rows.append(row)
    print("| Case | Follow-up | Heuristic rank | s | Model rank | s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2] or '–'} | {r[3]:.3f} | {r[4] or '–'} | {r[5]:.1f} |")
    for name, col in (("heuristic", 2), ("model", 4)):
        ranks = [r[col] for r in rows]
        r1 = sum(1 for x in ranks if x == 1) / len(ranks)
        r5 = sum(1 for x in ranks if x is not None and x <= args.k) / len(ranks)
        took = sum(r[col + 1] for r in rows) / len(rows)
        print(f"{name}: recall@1 {r1:.2f}, recall@{args.k} {r5:.2f}, n {len(rows)}, "
              f"mean rewrite {took:.2f} s")


if __name__ == "__main__":
    main()
