#!/usr/bin/env python
"""Quote-only answers on the refusal benchmark: what the gate and the quote picker do together.

Quote-only mode (and the fallback when a model's answer fails the claim check) answers with
quoted sentences. This script asks every question of the refusal benchmark (`fit_gate.py`: each
public question once with its gold document, once without) as quote-only mode would: the
answer gate first, then the quote picker, and reports per set how many unanswerable questions
end refused and how many answerable ones do, and how often an answered question's quotes hold
a gold answer. It compares the quote picker with and without the answer-type rule (a question
asking for a date or a number is answered only by a sentence that gives one,
`qa.extractive._candidates`), which is computed, not fitted, and with the product's check on
the quotes as picked (`checked`: a question asking for a date or a number whose quotes give
none is refused, `qa.extractive.missing_figure`; the product applies it to quotes that stand in
for a model's answer, not in quote-only mode). `--kind detail` takes the unanswerable side
from `detail_instances.py` (the article is there, the sentences holding the answer are cut).

    python scripts/bench_quotes.py --index-dir /tmp/qa-bench/index-ct200 [--half report]
        [--kind detail]

Needs the bench index of `bench_retrieval.py` (all four corpora); the searched instances and
the sentence vectors come from `fit_gate.py`'s cache when it has run, else they are computed
(about 20 minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import bench_retrieval as br  # noqa: E402
import fit_gate  # noqa: E402

SETS = ("germanquad", "xquad-de", "xquad-en")
RULES = {"plain": "without", "typed": "with the type rule",
         "checked": "picked without, then checked (shipped after a model's answer)"}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    p.add_argument("--index-dir", type=Path, required=True)
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--half", choices=("report", "fit", "all"), default="report",
                   help="which half of the questions (the gate was fitted on 'fit')")
    p.add_argument("--candidates", type=int, default=100, help="as in fit_gate.py")
    p.add_argument("--limit", type=int, default=0, help="instances per set and label (0 = all)")
    p.add_argument("--kind", choices=("document", "detail"), default="document",
                   help="unanswerable instances: gold document dropped, or only the "
                        "sentences holding the answer cut (detail_instances.py)")
    return p.parse_args()


def preloaded_scorer(embedder):  # type: ignore[no-untyped-def]
    """A real `SupportScorer` whose sentence and question vectors come from fit_gate's cache
    where it has them (the same model, the same prefixes), so thousands of questions take
    minutes."""
    import numpy as np

    import qa.support
    from qa.support import SupportScorer

    scorer = SupportScorer(embedder)
    path = fit_gate.CACHE / f"vectors-{fit_gate._cache_key(embedder.name)}.npz"
    queries: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            for kind, text, vec in zip(data["kinds"], data["texts"], data["vectors"],
                                       strict=True):
                if str(kind) == "p":
                    scorer._vectors[str(text)] = vec
                else:
                    queries[str(text)] = vec
        print(f"{len(scorer._vectors)} sentence and {len(queries)} question vectors from {path}")
    qa.support._CACHED_VECTORS = 10**9  # keep them all
    encode = embedder.encode_query

    def encode_query(text: str) -> np.ndarray:
        return queries[text] if text in queries else encode(text)

    embedder.encode_query = encode_query
    return scorer


def main() -> int:
    args = parse_args()
    bench = args.bench.expanduser().resolve()
    sets = [s for s in args.sets.split(",") if (bench / s / "questions.jsonl").is_file()]
    if not sets:
        print(f"Bench data not found under {bench}; nothing to measure.", file=sys.stderr)
        return 0
    from qa.evaluation.metrics import contains_answer
    from qa.evaluation.report import md_table
    from qa.extractive import extract_answer, missing_figure
    from qa.gate import AnswerGate
    from qa.retrieval import Retriever
    from qa.settings import Settings

    settings = Settings(index_dir=args.index_dir)
    retriever = Retriever(settings)
    instances, _, _ = fit_gate.collect(args, settings, retriever, bench, sets, args.index_dir)
    if args.kind == "detail":
        import detail_instances

        details, _ = detail_instances.collect(settings, retriever, retriever.embedder, bench,
                                              sets, args.candidates)
        instances = [r for r in instances if r["y"]] + details
    answers = {(name, q["id"]): q.get("answers", []) + q.get("answers_en", [])
               for name, qs in br.load_questions(bench, sets, 0).items() for q in qs}
    scorer = preloaded_scorer(retriever.embedder)
    gate = AnswerGate(settings, scorer)
    taken: dict[tuple[str, int], int] = defaultdict(int)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    t0 = time.perf_counter()
    for row in instances:
        if args.half != "all" and row["half"] != args.half:
            continue
        if args.limit and taken[(row["set"], row["y"])] >= args.limit:
            continue
        taken[(row["set"], row["y"])] += 1
        c = counts[row["set"]]
        label = "answerable" if row["y"] else "unanswerable"
        c[label] += 1
        if not gate.decide(row["question"], row["hits"]).answerable:
            c[f"{label} gate"] += 1
            continue
        for rule in RULES:
            quotes = extract_answer(row["question"], row["hits"], scorer,
                                    typed=rule == "typed")
            if rule == "checked" and missing_figure(row["question"], quotes):
                quotes = []
            if not quotes:
                c[f"{label} {rule} no quote"] += 1
            elif row["y"] and contains_answer(" ".join(s.text for s in quotes),
                                              answers[(row["set"], row["id"])]):
                c[f"contains {rule}"] += 1
    print(f"{sum(taken.values())} instances in {time.perf_counter() - t0:.0f} s\n")

    rows = []
    for name, c in counts.items():
        for rule in RULES:
            refused_u = c["unanswerable gate"] + c[f"unanswerable {rule} no quote"]
            refused_a = c["answerable gate"] + c[f"answerable {rule} no quote"]
            rows.append([name, RULES[rule],
                         refused_u / max(1, c["unanswerable"]),
                         refused_a / max(1, c["answerable"]),
                         c[f"contains {rule}"] / max(1, c["answerable"]),
                         c["unanswerable"], c["answerable"]])
    print(md_table(["set", "quotes", "unanswerable refused", "answerable refused",
                    "answerable: quotes hold a gold answer", "n unanswerable", "n answerable"],
                   rows, digits=3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
