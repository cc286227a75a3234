#!/usr/bin/env python
"""Fit the passage order (qa/sentence_rerank.py) on the public bench questions.

`qa search` ranks passages, and an English question's answer chooses its passages, by
fusing their hybrid rank with the rank of their best sentence's cosine to the query:
`1 / (rrf_k + hybrid rank) + weight / (rrf_k + sentence rank)`. This script asks every public
question of germanquad, xquad-de and xquad-en against the bench index (all four corpora, as
`scripts/bench_retrieval.py` builds it), embeds the sentences of each question's top
passages once (cached under /tmp/fit_gate_cache with the gate's vectors), grids `weight` x
`rrf_k` on the questions whose sha1(id) is even, and reports the chosen setting against the
hybrid order on the odd half, per set. Writes qa/data/sentence_rerank.json with what produced
it.

The weight and `rrf_k` are picked reordering the first `context_passages` (5);
then, per language pairing (a question in its passages' language, or in another, as the gate
tells them apart), how many hybrid passages to reorder (`--depths`): the depth with the best
fit-half R@5, the smaller on a tie, since each passage adds its sentences to embed.

    HF_HUB_OFFLINE=1 python scripts/fit_sentence_rerank.py            # fit and write
    HF_HUB_OFFLINE=1 python scripts/fit_sentence_rerank.py --dry-run  # print only
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
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
import fit_gate as fg  # noqa: E402

SETS = ("germanquad", "xquad-de", "xquad-en")
OUT = REPO / "qa" / "data" / "sentence_rerank.json"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    p.add_argument("--index-dir", type=Path, default=None,
                   help="bench index (default /tmp/qa-bench/index-ct<chunk_tokens>; built "
                        "if missing)")
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--weights", type=br.floats,
                   default=[0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0])
    p.add_argument("--rrf-ks", type=br.ints, default=[2, 5, 10, 30, 60])
    p.add_argument("--depths", type=br.ints, default=[5, 6, 7, 8, 10],
                   help="passages reordered to choose from, per language pairing (none below "
                        "context_passages)")
    p.add_argument("--dry-run", action="store_true", help="print the tables, write nothing")
    p.add_argument("--out", type=Path, default=OUT)
    return p.parse_args()


def collect(settings, retriever, bench: Path, sets: list[str], depth: int) -> list[dict]:
    """Each question's hybrid top `depth` in product order (cached by index generation and
    retrieval settings, as the gate's instances are)."""
    from qa.store import current_folder

    files = [bench / s / "questions.jsonl" for s in sets]
    key = fg._cache_key("rerank", str(current_folder(settings.index_dir)),
                        [(str(f), f.stat().st_mtime) for f in files], depth,
                        {k: getattr(settings, k) for k in (
                            "candidates", "dense_weight", "bm25_weight", "rrf_k",
                            "cross_dense_weight", "cross_bm25_weight", "embed_model")})
    path = fg.CACHE / f"rerank-{key}.pkl"
    if path.is_file():
        print(f"candidate lists from {path}")
        return pickle.loads(path.read_bytes())
    questions = br.load_questions(bench, sets, 0)
    n = max(settings.candidates, depth * 3)
    cross = (settings.cross_dense_weight, settings.cross_bm25_weight)
    rows = []
    t0 = time.perf_counter()
    for qset, qs in questions.items():
        for q in qs:
            cached = br.Cached(retriever, q["question"], n)
            hits = cached.hits("hybrid", n, depth, settings.dense_weight, settings.bm25_weight,
                               settings.rrf_k, cross)
            rows.append({"set": qset, "id": q["id"], "half": fg.half(q["id"]),
                         "question": q["question"], "hits": hits,
                         "gold": [br.is_gold(h, q["doc"], q["_context"]) for h in hits]})
        print(f"  {qset}: {len(qs)} questions searched ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    fg.CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(rows))
    return rows


def first_gold(order: list[int], gold: list[bool]) -> int | None:
    return next((r for r, i in enumerate(order, start=1) if gold[i]), None)


def ranks(rows: list[dict], weight: float, rrf_k: int, depth: int,
          depth_cross: int | None = None) -> list[int | None]:
    """First gold rank per row with the first `depth` passages reordered (`depth_cross` for a
    cross-lingual question, when given)."""
    from qa.sentence_rerank import fused_order

    out = []
    for r in rows:
        d = depth_cross if r["cross"] and depth_cross is not None else depth
        head = min(d, len(r["hits"]))
        order = fused_order(r["best"][:head], weight, rrf_k) + list(range(head, len(r["hits"])))
        out.append(first_gold(order, r["gold"]))
    return out


def main() -> int:
    args = parse_args()
    bench = args.bench.expanduser().resolve()
    sets = [s for s in args.sets.split(",") if s]
    if not all((bench / s / "questions.jsonl").is_file() for s in sets):
        print(f"Bench data not found under {bench}; nothing to fit.", file=sys.stderr)
        return 0

    from qa.embedding import Embedder
    from qa.retrieval import Retriever
    from qa.sentence_rerank import best_sentence_cosines
    from qa.settings import Settings

    settings = Settings()
    index_dir = args.index_dir or Path(f"/tmp/qa-bench/index-ct{settings.chunk_tokens}")
    settings = settings.model_copy(update={"index_dir": index_dir})
    br.ensure_index(settings, bench, list(br.CORPORA))
    embedder = Embedder(settings)
    retriever = Retriever(settings, embedder)
    product = settings.context_passages
    depths = sorted({product, *(d for d in args.depths if d >= product)})
    rows = collect(settings, retriever, bench, sets, max(depths))
    from qa.retrieval import is_cross_lingual

    for r in rows:  # as the gate and the reranker tell: the first three passages' language
        r["cross"] = is_cross_lingual(r["question"], [h.text for h in r["hits"][:3]])

    from qa.extractive import is_instruction
    from qa.support import passage_sentences

    def sentences(hits) -> list[str]:
        return [s.text for h in hits for s in passage_sentences(h.text)
                if not is_instruction(s.text)]

    scorer = fg.CachedScorer(embedder, fg.CACHE / f"vectors-{fg._cache_key(embedder.name)}.npz")
    scorer.fill([r["question"] for r in rows], [s for r in rows for s in sentences(r["hits"])])
    for r in rows:
        r["best"] = best_sentence_cosines(scorer.encode_query(r["question"]), r["hits"],
                                          scorer)  # type: ignore[arg-type]
    cost = {d: statistics.mean(len(set(sentences(r["hits"][:d]))) for r in rows)
            for d in depths}

    fit = {q: [r for r in rows if r["set"] == q and r["half"] == "fit"] for q in sets}
    report = {q: [r for r in rows if r["set"] == q and r["half"] == "report"] for q in sets}

    def mean_mrr(part: dict[str, list[dict]], w: float, rk: int, depth: int) -> float:
        return statistics.mean(br.metrics(ranks(part[q], w, rk, depth))["mrr@10"] for q in sets)

    grid = [{"weight": w, "rrf_k": rk, "fit_mean_mrr": mean_mrr(fit, w, rk, product)}
            for rk in args.rrf_ks for w in args.weights]
    # ties: the smaller weight (closer to the hybrid order the gate was fitted on)
    best = max(grid, key=lambda g: (round(g["fit_mean_mrr"], 6), -g["weight"]))
    print(f"\n## Grid on the fit half (mean MRR@10 over {', '.join(sets)}; depth {product})\n")
    weights = list(args.weights)
    print(br.table(["rrf_k", *[f"w {w:g}" for w in weights]],
                   [[rk, *[g["fit_mean_mrr"] for g in grid if g["rrf_k"] == rk]]
                    for rk in args.rrf_ks]))
    print(f"\nChosen: weight {best['weight']:g}, rrf_k {best['rrf_k']}")

    w, rk = best["weight"], best["rrf_k"]
    fit_all = [r for part in fit.values() for r in part]
    chosen_depth: dict[bool, int] = {}
    depth_grid: dict[str, list] = {}
    for cross in (False, True):
        part = [r for r in fit_all if r["cross"] == cross]
        scores = [(br.metrics(ranks(part, w, rk, d))["r@5"],
                   br.metrics(ranks(part, w, rk, d))["mrr@10"], d) for d in depths]
        chosen_depth[cross] = max(scores, key=lambda x: (round(x[0], 6), -x[2]))[2]
        depth_grid["cross-lingual" if cross else "same language"] = [
            {"depth": d, "n": len(part), "r@5": round(r5, 4), "mrr@10": round(m, 4)}
            for r5, m, d in scores]
    print("\n## Passages reordered, fit half (R@5 / MRR@10 per language pairing)\n")
    print(br.table(["questions", "n", *[f"depth {d}" for d in depths]],
                   [[name, g[0]["n"], *[f"{x['r@5']:.3f} / {x['mrr@10']:.3f}" for x in g]]
                    for name, g in depth_grid.items()]))
    print(f"\nChosen depth: {chosen_depth[False]} (same language), {chosen_depth[True]} "
          "(cross-lingual)")

    result_rows: list[dict] = []
    for q in sets:
        before = ranks(report[q], 0.0, rk, product)
        head = ranks(report[q], w, rk, product)
        after = ranks(report[q], w, rk, chosen_depth[False], chosen_depth[True])
        pr = br.paired(after, before, 1)
        pr5 = br.paired(after, before, 5)
        result_rows.append({
            "set": q, "n": len(after),
            "cross_lingual": sum(r["cross"] for r in report[q]),
            "hybrid": {k: round(v, 4) for k, v in br.metrics(before).items()},
            "reordered_top5": {k: round(v, 4) for k, v in br.metrics(head).items()},
            "reordered": {k: round(v, 4) for k, v in br.metrics(after).items()},
            "r@1_wins": pr["wins"], "r@1_losses": pr["losses"],
            "r@5_wins": pr5["wins"], "r@5_losses": pr5["losses"],
        })
    print("\n## Report half (never fitted on): hybrid order, the top 5 reordered, and as "
          "fitted\n")
    print(br.table(
        ["set", "n", "R@1 hybrid / top 5 / fitted", "R@5 hybrid / top 5 / fitted",
         "MRR@10 hybrid / top 5 / fitted", "R@1 wins / losses", "R@5 wins / losses"],
        [[r["set"], r["n"],
          *[" / ".join(f"{r[c][m]:.3f}" for c in ("hybrid", "reordered_top5", "reordered"))
            for m in ("r@1", "r@5", "mrr@10")],
          f"{r['r@1_wins']} / {r['r@1_losses']}", f"{r['r@5_wins']} / {r['r@5_losses']}"]
         for r in result_rows]))
    print("\nSentences embedded per question: " + ", ".join(
        f"{d} passages {c:.1f}" for d, c in cost.items()))

    if args.dry_run:
        return 0
    store = retriever.store
    out = {
        "weight": w,
        "rrf_k": rk,
        "depth": chosen_depth[False],
        "depth_cross_lingual": chosen_depth[True],
        "embed_model": settings.embed_model,
        "fitted": {
            "by": "scripts/fit_sentence_rerank.py",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "sets": sets, "half": "sha1(id) even",
            "picked_by": f"weight and rrf_k: mean MRR@10 over the sets, reordering the top "
                         f"{product}; depths: R@5 per language pairing, the smaller on a tie",
            "depth_grid_fit_half": depth_grid,
            "fit_half_mean_mrr@10": round(best["fit_mean_mrr"], 4),
            "fit_half_hybrid_mean_mrr@10": round(mean_mrr(fit, 0.0, best["rrf_k"], product), 4),
            "grid": {"weights": weights, "rrf_ks": args.rrf_ks},
            "index": {"dir": str(index_dir), "chunks": store.counts()[1],
                      "chunker": store.manifest.chunker},
            "retrieval": {k: getattr(settings, k) for k in (
                "context_passages", "candidates", "dense_weight", "bm25_weight", "rrf_k",
                "cross_dense_weight", "cross_bm25_weight")},
            "sentences_per_question": {str(d): round(c, 1) for d, c in cost.items()},
        },
        "report_half": result_rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"\nWrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
