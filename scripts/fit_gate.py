#!/usr/bin/env python
"""Fit the answer gate (qa/gate.py) on a refusal benchmark built from the public bench.

A question becomes unanswerable when its gold document is absent: each bench question is
asked twice against one index of the bench corpora, once as it is (answerable) and once with
every chunk of its gold document dropped from the dense and BM25 candidate lists before
fusion (an exclusion filter; BM25's statistics differ negligibly from an index without the
document). Only questions whose answer occurs in no other document (`n_docs_with_answer ==
1`) are used for the unanswerable side; the answerable side keeps the questions whose gold
passage was retrieved in the prompt's passages (a refusal there is a false refusal).

The public questions are split by a hash of their id: the gate is fitted on one half (a
logistic model over the gate's features, threshold chosen for `--target-frr` false refusals)
and reported on the other, per set. The sample test set's unanswerable questions are reported
too (never fitted on). Writes qa/data/answer_gate.json with the settings that produced it.

    HF_HUB_OFFLINE=1 python scripts/fit_gate.py                  # the full bench index
    HF_HUB_OFFLINE=1 python scripts/fit_gate.py --index-dir /tmp/qa-bench/index-ct200
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import bench_retrieval as br  # noqa: E402
import numpy as np  # noqa: E402

from qa.evaluation.logistic import fit_logistic  # noqa: E402

SETS = ("germanquad", "xquad-de", "xquad-en")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    p.add_argument("--index-dir", type=Path, default=None,
                   help="index of the bench corpora (default: bench_retrieval's for the settings)")
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--target-frr", type=float, default=0.05,
                   help="false refusals allowed among answerable questions (fit half)")
    p.add_argument("--candidates", type=int, default=100, help="dense/BM25 lists before dropping")
    p.add_argument("--out", type=Path, default=REPO / "qa" / "data" / "answer_gate.json")
    p.add_argument("--report", type=Path, default=Path("/tmp/fit_gate_report.json"))
    return p.parse_args()


def half(qid: str) -> str:
    return "fit" if int(hashlib.sha1(qid.encode()).hexdigest(), 16) % 2 == 0 else "report"


def rates(p: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    refused = p < threshold
    ans, una = y == 1, y == 0
    return {
        "refusal_recall": float(refused[una].mean()) if una.any() else float("nan"),
        "false_refusals": float(refused[ans].mean()) if ans.any() else float("nan"),
        "refusal_precision": float((refused & una).sum() / max(1, refused.sum())),
        "n_answerable": int(ans.sum()), "n_unanswerable": int(una.sum()),
    }


def main() -> int:
    args = parse_args()
    bench = args.bench.expanduser().resolve()
    sets = [s for s in args.sets.split(",") if s]
    if not all((bench / s / "questions.jsonl").is_file() for s in sets):
        print(f"Bench data not found under {bench}; nothing to fit.", file=sys.stderr)
        return 0

    from qa.embedding import Embedder
    from qa.gate import FEATURES, features
    from qa.retrieval import Retriever
    from qa.settings import Settings

    settings = Settings()
    index_dir = args.index_dir or Path(f"/tmp/qa-bench/index-ct{settings.chunk_tokens}")
    settings = settings.model_copy(update={"index_dir": index_dir})
    retriever = Retriever(settings, Embedder(settings))
    store = retriever.store
    if store.manifest.chunker["max_tokens"] != settings.chunk_tokens:
        print(f"{index_dir} was built with other chunker settings; build it with "
              "scripts/bench_retrieval.py first.", file=sys.stderr)
        return 1
    questions = br.load_questions(bench, sets, 0)
    k = settings.context_passages
    rows: list[dict] = []
    dropped_shared = 0
    t0 = time.perf_counter()
    for qset, qs in questions.items():
        for q in qs:
            cached = br.Cached(retriever, q["question"], args.candidates)
            cross = (settings.cross_dense_weight, settings.cross_bm25_weight)
            base = {"set": qset, "id": q["id"], "half": half(q["id"])}
            hits = cached.hits("hybrid", settings.candidates, k, settings.dense_weight,
                               settings.bm25_weight, settings.rrf_k, cross)
            if br.first_rank(hits, q["doc"], q["_context"], k) is not None:
                rows.append({**base, "y": 1, **features(q["question"], hits)})
            if q["n_docs_with_answer"] != 1:
                dropped_shared += 1
                continue
            gold = {cid for cid, row in cached.rows.items() if Path(row.path).name == q["doc"]}
            cached.dense = [c for c in cached.dense if c[0] not in gold]
            cached.lexical = [c for c in cached.lexical if c[0] not in gold]
            hits = cached.hits("hybrid", settings.candidates, k, settings.dense_weight,
                               settings.bm25_weight, settings.rrf_k, cross)
            rows.append({**base, "y": 0, **features(q["question"], hits)})
    print(f"{len(rows)} instances in {time.perf_counter() - t0:.0f} s; {dropped_shared} "
          "questions kept off the unanswerable side (answer in another document too)")

    def xy(part: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        return (np.array([[r[f] for f in FEATURES] for r in part], dtype=float),
                np.array([r["y"] for r in part], dtype=float))

    fit_rows = [r for r in rows if r["half"] == "fit"]
    x, y = xy(fit_rows)
    weights, bias = fit_logistic(x, y)
    p_fit = 1 / (1 + np.exp(-(x @ weights + bias)))
    # the highest threshold whose false-refusal rate on the fit half stays within the target
    answerable = np.sort(p_fit[y == 1])
    threshold = float(answerable[int(np.floor(args.target_frr * len(answerable)))])

    report: dict[str, dict] = {}
    curve: dict[str, list] = {}
    for name in [*sets, "all"]:
        part = [r for r in rows if r["half"] == "report" and name in ("all", r["set"])]
        if not part:
            continue
        xr, yr = xy(part)
        pr = 1 / (1 + np.exp(-(xr @ weights + bias)))
        report[name] = rates(pr, yr, threshold)
        curve[name] = [[t, *(lambda m: (m["refusal_recall"], m["false_refusals"]))(
            rates(pr, yr, t))] for t in np.linspace(0.05, 0.95, 19).round(2).tolist()]
    report["fit half"] = rates(p_fit, y, threshold)

    print(f"\nweights {dict(zip(FEATURES, weights.round(3).tolist(), strict=True))} "
          f"bias {bias:.3f} threshold {threshold:.3f}\n")
    print(br.table(["half / set", "refusal recall", "false refusals", "refusal precision",
                    "n answerable", "n unanswerable"],
                   [[name, m["refusal_recall"], m["false_refusals"], m["refusal_precision"],
                     m["n_answerable"], m["n_unanswerable"]] for name, m in report.items()]))
    gate = {
        "features": list(FEATURES),
        "weights": [round(float(w), 6) for w in weights],
        "bias": round(bias, 6),
        "threshold": round(threshold, 6),
        "embed_model": settings.embed_model,
        "fitted": {
            "by": "scripts/fit_gate.py", "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "sets": sets, "half": "sha1(id) even", "target_false_refusals": args.target_frr,
            "index": {"dir": str(index_dir), "chunks": store.counts()[1],
                      "chunker": store.manifest.chunker},
            "retrieval": {k: getattr(settings, k) for k in (
                "context_passages", "candidates", "dense_weight", "bm25_weight", "rrf_k")},
            "instances": {"fit": len(fit_rows), "report": len(rows) - len(fit_rows),
                          "questions_not_made_unanswerable": dropped_shared},
        },
        "report_half": report,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(gate, indent=1) + "\n", encoding="utf-8")
    args.report.write_text(json.dumps({"gate": gate, "curve": curve, "rows": rows}, indent=1))
    print(f"\nWrote {args.out} and {args.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
