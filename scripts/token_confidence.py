#!/usr/bin/env python
"""Does the embedded model's confidence in its own answer tell answerable questions from
unanswerable ones? An offline measurement of a signal issue #10 names ("its token
probabilities"); nothing is fitted or changed in the product.

Instances of the refusal benchmark (`bench_refusals.py`'s sampling: a half, `--limit` per set
and label, unanswerable by a dropped document or, with `--kind detail`, by cut answer
sentences) that the gate lets through are answered the way the product answers them, with
the embedded model decoding greedily. A logits processor records, for every generated token,
the log-probability of the token chosen (the largest under greedy decoding). Per path
(answer accepted by the claim check, quotes after a rejection) the script prints the area
under the ROC curve between answerable and unanswerable instances for statistics of those
log-probabilities, beside the gate's own margin on the same instances (0.5: no signal).

    python scripts/token_confidence.py --index-dir /tmp/qa-bench/index-ct200 --kind detail \\
        --sets germanquad,xquad-de --limit 25 --half fit      # about 8 minutes
    python scripts/token_confidence.py --index-dir IDX --from-file /tmp/token_confidence.jsonl

Recording costs one softmax over the vocabulary per token (about 1 ms on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import numpy as np  # noqa: E402
from answer_signals import auc  # noqa: E402

PATHS = ("answered", "quotes after rejection")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    p.add_argument("--index-dir", type=Path, required=True)
    p.add_argument("--sets", default="germanquad,xquad-de,xquad-en")
    p.add_argument("--half", choices=("report", "fit"), default="fit")
    p.add_argument("--kind", choices=("document", "detail"), default="document")
    p.add_argument("--limit", type=int, default=25, help="instances per set and label")
    p.add_argument("--candidates", type=int, default=100, help="as in fit_gate.py")
    p.add_argument("--out", type=Path, default=Path("/tmp/token_confidence.jsonl"))
    p.add_argument("--from-file", type=Path, default=None,
                   help="only print the table of an earlier run's --out")
    return p.parse_args()


class ChosenLogprobs:
    """A llama.cpp logits processor that records the log-probability of the most likely next
    token (the one greedy decoding takes) and leaves the logits unchanged."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def __call__(self, _input_ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        x = np.asarray(logits, dtype=np.float64)
        top = x.max()
        self.values.append(float(-np.log(np.exp(x - top).sum())))
        return logits


def statistics(logprobs: list[float]) -> dict[str, float]:
    """Higher = more confident, for every statistic (so an AUC above 0.5 means answerable
    questions get more confident answers). The last token (end of turn) is left out."""
    lp = np.array(logprobs[:-1] or [0.0])
    return {"mean": float(lp.mean()), "min": float(lp.min()),
            "10th percentile": float(np.percentile(lp, 10)),
            "share of tokens at p >= 0.37": float((lp >= -1).mean()),
            "first 5 tokens": float(lp[:5].mean())}


def measure(args: argparse.Namespace, sets: list[str]) -> None:
    """Answer the sampled instances the gate lets through, writing one line per instance."""
    import bench_refusals
    import fit_gate
    from llama_cpp import LogitsProcessorList

    from qa.answer import Answerer
    from qa.llm.llamacpp import LlamaCppLLM
    from qa.llm.select import select_llm
    from qa.retrieval import Retriever
    from qa.settings import Settings

    settings = Settings(index_dir=args.index_dir)
    retriever = Retriever(settings)
    instances, _, _ = fit_gate.collect(args, settings, retriever, args.bench, sets,
                                       args.index_dir)
    if args.kind == "detail":
        import detail_instances

        details, _ = detail_instances.collect(settings, retriever, retriever.embedder,
                                              args.bench, sets, args.candidates)
        instances = [r for r in instances if r["y"]] + details
    chosen = bench_refusals.sample(instances, sets, args.half, args.limit, args.limit)
    answerer = Answerer(settings, retriever)
    llm, _ = select_llm(settings, "llamacpp")
    if not isinstance(llm, LlamaCppLLM):
        raise SystemExit("the embedded model is not available")
    recorder = ChosenLogprobs()
    llama = llm._llama
    create = llama.create_chat_completion

    def recording(*a: object, **k: object) -> object:
        return create(*a, **k, logits_processor=LogitsProcessorList([recorder]))

    llama.create_chat_completion = recording  # this process only: a measurement hook
    t0 = time.perf_counter()
    with args.out.open("w", encoding="utf-8") as out:
        for i, row in enumerate(chosen, start=1):
            decision = answerer.gate.decide(row["question"], row["hits"])
            if not decision.answerable:
                continue
            recorder.values = []
            answer = answerer.ask(row["question"], llm_choice="llamacpp", passages=row["hits"])
            out.write(json.dumps({
                "set": row["set"], "id": row["id"], "answerable": bool(row["y"]),
                "kind": args.kind, "gate_margin": round(decision.margin, 4),
                "path": bench_refusals.path_of(answer, True), "model_text": answer.model_text,
                "logprobs": [round(v, 5) for v in recorder.values],
            }, ensure_ascii=False) + "\n")
            out.flush()
            print(f"  {i}/{len(chosen)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr,
                  flush=True)


def table(path: Path) -> str:
    from qa.evaluation.report import md_table

    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    names = list(statistics([0.0, 0.0]))
    out = []
    for label, keep in [("all", lambda r: True), *((p, lambda r, p=p: r["path"] == p)
                                                   for p in PATHS)]:
        part = [r for r in rows if keep(r)]
        pos = [r for r in part if r["answerable"]]
        neg = [r for r in part if not r["answerable"]]
        if not pos or not neg:
            continue
        stats = {id(r): statistics(r["logprobs"]) for r in part}
        out.append([label, f"{len(pos)} / {len(neg)}",
                    *(auc([stats[id(r)][n] for r in pos], [stats[id(r)][n] for r in neg])
                      for n in names),
                    auc([r["gate_margin"] for r in pos], [r["gate_margin"] for r in neg])])
    return md_table(["path", "n answerable / unanswerable", *names, "gate margin"], out,
                    digits=3)


def main() -> int:
    args = parse_args()
    args.bench = args.bench.expanduser().resolve()
    if args.from_file is None:
        sets = [s for s in args.sets.split(",")
                if (args.bench / s / "questions.jsonl").is_file()]
        if not sets:
            print(f"Bench data not found under {args.bench}; nothing to measure.",
                  file=sys.stderr)
            return 0
        measure(args, sets)
    print(table(args.from_file or args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
