#!/usr/bin/env python
"""The refusal benchmark through the whole answer path: gate, model, claim check, fallback.

`fit_gate.py` and `bench_quotes.py` measure what happens before a model runs. This script asks
a sample of the refusal benchmark's instances (each public question once with its gold
document, once without, as in `fit_gate.py`) the way the product answers them with a model:
the gate, the focused prompt, the model's answer, the claim check, and the fallback to quotes
when the check leaves nothing. Per set it reports how many unanswerable questions end refused,
how many answerable ones do, and which step decided, and writes one JSON line per instance
(gate probability, path, answer) so that a fallback policy can be compared offline.

    python scripts/bench_refusals.py --index-dir /tmp/qa-bench/index-ct200 --limit 20
    python scripts/bench_refusals.py --index-dir /tmp/qa-bench/index-ct200 --limit 40 \
        --kind detail --answerable-limit 0     # only questions whose answer sentence is cut

`--kind detail` makes the unanswerable side of `detail_instances.py`: the article is there,
the sentences that answer are not (as for the sample test set's unanswerable questions).

`--limit` instances per set and label, taken in hash order from the report half (the gate was
fitted on the other); with the embedded 1.5B model on 2 cores each answered instance takes
10-15 s. Needs the bench index of `bench_retrieval.py` and, for speed, `fit_gate.py`'s cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import bench_retrieval as br  # noqa: E402
import fit_gate  # noqa: E402

SETS = ("germanquad", "xquad-de", "xquad-en")
PATHS = ("gate", "model refused", "answered", "quotes after rejection",
         "refused after rejection", "other")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    p.add_argument("--index-dir", type=Path, required=True)
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--half", choices=("report", "fit"), default="report")
    p.add_argument("--candidates", type=int, default=100, help="as in fit_gate.py")
    p.add_argument("--limit", type=int, default=20, help="instances per set and label")
    p.add_argument("--answerable-limit", type=int, default=None,
                   help="answerable instances per set (default: --limit)")
    p.add_argument("--kind", choices=("document", "detail"), default="document",
                   help="unanswerable by dropping the gold document (fit_gate.py) or only the "
                        "sentences holding the answer (detail_instances.py)")
    p.add_argument("--llm", default="llamacpp", help="answer backend (default: embedded)")
    p.add_argument("--out", type=Path, default=Path("/tmp/bench_refusals.jsonl"))
    return p.parse_args()


def path_of(answer, gate_answerable: bool) -> str:
    """Which step decided: the gate, the model, or the check's fallback."""
    notice = answer.notice or ""
    if not gate_answerable:
        return "gate"
    if answer.left_out and answer.refused:
        return "refused after rejection"
    if "showing quoted passages instead" in notice:
        return "quotes after rejection"
    if answer.refused:
        return "model refused"
    if answer.sentences:
        return "answered"
    return "other"


def sample(instances: list[dict], sets: list[str], half: str, limit: int,
           answerable_limit: int) -> list[dict]:
    """`limit` unanswerable and `answerable_limit` answerable instances per set of `half`, in
    the order of a hash of the id."""
    order = sorted((r for r in instances if r["half"] == half and r["set"] in sets),
                   key=lambda r: hashlib.sha1(f"{r['id']}/{r['y']}".encode()).hexdigest())
    taken: Counter[tuple[str, int]] = Counter()
    out = []
    for row in order:
        if taken[(row["set"], row["y"])] < (answerable_limit if row["y"] else limit):
            taken[(row["set"], row["y"])] += 1
            out.append(row)
    return out


def main() -> int:
    args = parse_args()
    bench = args.bench.expanduser().resolve()
    sets = [s for s in args.sets.split(",") if (bench / s / "questions.jsonl").is_file()]
    if not sets:
        print(f"Bench data not found under {bench}; nothing to measure.", file=sys.stderr)
        return 0
    from qa.answer import Answerer
    from qa.evaluation.metrics import contains_answer
    from qa.evaluation.report import md_table
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
    answerer = Answerer(settings, retriever)
    answerable_limit = args.limit if args.answerable_limit is None else args.answerable_limit
    chosen = sample(instances, sets, args.half, args.limit, answerable_limit)
    print(f"{len(chosen)} instances ({args.limit} unanswerable ({args.kind}) and "
          f"{answerable_limit} answerable per set, {args.half} half)",
          file=sys.stderr)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    t0 = time.perf_counter()
    with args.out.open("w", encoding="utf-8") as out:
        for i, row in enumerate(chosen, start=1):
            decision = answerer.gate.decide(row["question"], row["hits"])
            answer = answerer.ask(row["question"], llm_choice=args.llm, passages=row["hits"])
            path = path_of(answer, decision.answerable)
            label = "answerable" if row["y"] else "unanswerable"
            contains = (bool(row["y"]) and not answer.refused
                        and contains_answer(answer.text, answers[(row["set"], row["id"])]))
            c = counts[row["set"]]
            c[label] += 1
            c[f"{label} refused"] += answer.refused
            c[f"{label} {path}"] += 1
            c["contains"] += contains
            out.write(json.dumps({
                "set": row["set"], "id": row["id"], "answerable": bool(row["y"]),
                "kind": row.get("kind", "document") if not row["y"] else "answerable",
                "question": row["question"], "gate_p": round(decision.score, 4),
                "gate_margin": round(decision.margin, 4),
                "gate_answerable": decision.answerable, "path": path,
                "refused": answer.refused, "contains": contains, "answer": answer.text,
                "left_out": [s.text for s in answer.left_out], "notice": answer.notice,
                "model_text": answer.model_text,
                "timings": answer.timings,
            }, ensure_ascii=False) + "\n")
            out.flush()
            print(f"  {i}/{len(chosen)} {row['set']} {label}: {path} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

    rows = []
    for name in [*sets, "all"]:
        c = sum(counts.values(), Counter()) if name == "all" else counts[name]
        nu, na = max(1, c["unanswerable"]), max(1, c["answerable"])
        rows.append([name, c["unanswerable refused"] / nu, c["unanswerable gate"] / nu,
                     (c["unanswerable refused"] - c["unanswerable gate"]) / nu,
                     c["answerable refused"] / na, c["answerable gate"] / na,
                     c["contains"] / na, c["unanswerable"], c["answerable"]])
    print(md_table(["set", "unanswerable refused", "by the gate", "after it (model, check)",
                    "answerable refused", "by the gate", "answerable: answer holds a gold answer",
                    "n unanswerable", "n answerable"], rows, digits=3))
    paths = [[name, label, *(counts[name][f"{label} {p}"] for p in PATHS)]
             for name in sets for label in ("unanswerable", "answerable")]
    print()
    print(md_table(["set", "label", *PATHS], paths))
    print(f"\n{len(chosen)} instances in {time.perf_counter() - t0:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
