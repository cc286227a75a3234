#!/usr/bin/env python
"""Retrieval benchmark on the external German QA data (../shared/bench, see its README).

Indexes the corpora of xquad-de, germanquad, mlqa-de and news-de together (~1,765 files)
and asks the germanquad and xquad-de questions. A question is answered at rank r when the
r-th retrieved chunk comes from the gold file (`doc`) and overlaps the gold paragraph
(`context`): they share a substring of >= min(40, len) characters, or one contains the other.

Reports recall@1/5/10 and MRR@10 for dense-only, BM25-only and hybrid, per question set, and
query latency (p50/p95, model load excluded) of `Retriever.search`.

`--sweep` grids the fusion (dense_weight x rrf_k [x candidates]) for free: the raw dense and
BM25 candidate lists are retrieved once per question exactly as `Retriever.search` gets them
(`Retriever._dense`, `store.search.lexical`, same n), fused here with the same formula as
`Retriever._fuse` (weight / (rrf_k + rank), same tie order) and collapsed with the same
`collapse_near_duplicates`; the best setting is then confirmed end to end through
`Retriever.search`.

Examples:
    HF_HUB_OFFLINE=1 python scripts/bench_retrieval.py
    HF_HUB_OFFLINE=1 python scripts/bench_retrieval.py --sweep --candidates-grid 20,50,100
    HF_HUB_OFFLINE=1 python scripts/bench_retrieval.py --chunk-tokens 128 --torch-threads 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
import unicodedata
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CORPORA = ("xquad-de", "germanquad", "mlqa-de", "news-de")
QUESTION_SETS = ("germanquad", "xquad-de", "xquad-en")
KS = (1, 5, 10)
TARGET_R5 = {"germanquad": 0.98, "xquad-de": 0.98, "xquad-en": 0.90}
TARGET_MRR10 = {"germanquad": 0.92, "xquad-de": 0.92}
TARGET_P50_MS = 50.0


# --------------------------------------------------------------------------- arguments
def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench",
                   help="bench data folder (default: ../shared/bench from the repo root)")
    p.add_argument("--index-dir", type=Path, default=None,
                   help="index folder (default /tmp/qa-bench/index-ct<chunk_tokens>); reused "
                        "when up to date, updated incrementally otherwise")
    p.add_argument("--sets", default=",".join(QUESTION_SETS), help="question sets to ask")
    p.add_argument("--corpora", default=",".join(CORPORA),
                   help="corpora to index (default all four; e.g. xquad-de,germanquad for a "
                        "quicker chunk-size comparison)")
    p.add_argument("--limit", type=int, default=0, help="first N questions per set (0 = all)")
    p.add_argument("--chunk-tokens", type=int, default=None, help="override settings.chunk_tokens")
    p.add_argument("--candidates", type=int, default=None, help="override settings.candidates")
    p.add_argument("--dense-weight", type=float, default=None)
    p.add_argument("--bm25-weight", type=float, default=None)
    p.add_argument("--rrf-k", type=int, default=None)
    p.add_argument("--sweep", action="store_true",
                   help="grid the fusion parameters from cached candidate lists")
    p.add_argument("--weights", type=floats, default=None,
                   help="dense weights to sweep (bm25 weight fixed), e.g. 0.5,1,2; implies --sweep")
    p.add_argument("--rrf-ks", type=ints, default=[10, 30, 60], help="rrf_k values to sweep")
    p.add_argument("--candidates-grid", type=ints, default=None,
                   help="candidates values to sweep (default: just the setting)")
    p.add_argument("--pick", type=floats, default=None, metavar="CAND,RRF_K,DENSE_W",
                   help="confirm this grid point instead of the sweep's best")
    p.add_argument("--no-confirm", action="store_true",
                   help="skip the end-to-end Retriever.search run of the sweep's best setting")
    p.add_argument("--torch-threads", type=ints, default=None,
                   help="torch thread counts to time queries with, e.g. 1,2 "
                        "(default: settings.torch_threads)")
    p.add_argument("--latency-n", type=int, default=400,
                   help="questions timed per mode and thread count, spread evenly over the "
                        "asked ones (0 = all)")
    p.add_argument("--faiss-threads", type=ints, default=None,
                   help="FAISS OpenMP thread counts to time (default: FAISS's default and 1)")
    p.add_argument("--no-latency", action="store_true")
    p.add_argument("--no-reorder", action="store_true",
                   help="skip the best-sentence order of `qa search` (embeds the top "
                        "passages' sentences: minutes)")
    p.add_argument("--out", type=Path, default=Path("/tmp/bench_retrieval.json"))
    args = p.parse_args(argv)
    if args.weights:
        args.sweep = True
    return args


# --------------------------------------------------------------------------- scoring
_WS = re.compile(r"\s+")


def norm(text: str) -> str:
    """NFC + collapsed whitespace: the indexer NFC-normalises and strips line ends."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def overlaps(chunk: str, context: str) -> bool:
    """Share a substring of >= min(40, len) chars, or one contains the other."""
    if not chunk or not context:
        return False
    if chunk in context or context in chunk:
        return True
    n = min(40, len(chunk), len(context))
    short, long_ = (chunk, context) if len(chunk) <= len(context) else (context, chunk)
    return any(short[i:i + n] in long_ for i in range(len(short) - n + 1))


def is_gold(chunk, doc: str, context: str) -> bool:
    """A hit or chunk row from the gold file that overlaps the gold paragraph."""
    return Path(chunk.path).name == doc and overlaps(norm(chunk.text), context)


def first_rank(hits, doc: str, context: str, k: int = 10) -> int | None:
    """1-based rank of the first relevant hit within top k, else None."""
    for rank, hit in enumerate(hits[:k], start=1):
        if is_gold(hit, doc, context):
            return rank
    return None


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    out: dict[str, float] = {"n": n}
    for k in KS:
        out[f"r@{k}"] = sum(1 for r in ranks if r is not None and r <= k) / n if n else 0.0
    out["mrr@10"] = sum(1.0 / r for r in ranks if r is not None and r <= 10) / n if n else 0.0
    return out


def miss_breakdown(questions: dict[str, list[dict]], cache: dict[str, list[Cached]],
                   hybrid: dict[str, dict], n: int) -> dict[str, dict[str, int]]:
    """Per set: questions the hybrid misses at rank 5, and how many of those have their gold
    passage in the dense or BM25 candidate list (top 20, top n) or in neither."""
    out = {}
    for qset, rows in questions.items():
        counts = {"n": len(rows), "misses": 0, "top20": 0, "topn": 0, "none": 0}
        for cached, row, rank in zip(cache[qset], rows, hybrid[qset]["ranks"], strict=True):
            if rank is not None and rank <= 5:
                continue
            counts["misses"] += 1
            gold = [i for i, (cid, _) in enumerate(cached.dense[:n]) if cached.is_gold(cid, row)]
            gold += [i for i, (cid, _) in enumerate(cached.lexical[:n])
                     if cached.is_gold(cid, row)]
            counts["top20"] += any(i < 20 for i in gold)
            counts["topn"] += bool(gold)
            counts["none"] += not gold
        out[qset] = counts
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    i = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[i]


# --------------------------------------------------------------------------- data
def load_questions(bench: Path, sets: list[str], limit: int) -> dict[str, list[dict]]:
    out = {}
    for name in sets:
        path = bench / name / "questions.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
        if limit:
            rows = rows[:limit]
        for r in rows:
            r["_context"] = norm(r["context"])
        out[name] = rows
    return out


def ensure_index(settings, bench: Path, corpora: list[str]):
    from qa.indexing import build_index

    folders = [bench / c / "corpus" for c in corpora]
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] > 15 or done == total:
            last[0] = now
            print(f"  [{stage}] {done}/{total}  load={os.getloadavg()[0]:.1f}", file=sys.stderr,
                  flush=True)

    print(f"Index {settings.index_dir} (chunk_tokens={settings.chunk_tokens}) ...", file=sys.stderr)
    report = build_index(settings, folders, progress=progress)
    for line in report.lines():
        if not line.startswith("  skipped"):
            print("  " + line, file=sys.stderr)
    return report


# --------------------------------------------------------------------------- fusion (mirror)
class Cached:
    """One question's raw candidate lists and chunk rows, to re-fuse without searching.

    Fuses with `qa.retrieval.fuse` and decides cross-lingual with `is_cross_lingual` on the
    same top dense passages as `Retriever.search`, so the sweep mirrors the product.
    """

    def __init__(self, retriever, query: str, n_max: int) -> None:
        from qa.retrieval import is_cross_lingual

        store = retriever.store
        self.dense = retriever._dense(store, query, n_max, None)
        self.lexical = store.search.lexical(query, n_max, None)
        ids = list({cid for cid, _ in self.dense} | {cid for cid, _ in self.lexical})
        self.rows = store.chunk_rows(ids)
        self.cross = is_cross_lingual(query, [self.rows[c].text for c, _ in self.dense[:3]])

    def is_gold(self, cid: int, row: dict) -> bool:
        chunk = self.rows.get(cid)
        return chunk is not None and is_gold(chunk, row["doc"], row["_context"])

    def hits(self, mode: str, n: int, k: int, dw: float = 0.0, bw: float = 1.0, rrf_k: int = 60,
             cross_weights: tuple[float, float] | None = None):
        from qa.retrieval import _hit, collapse_near_duplicates, fuse

        dense = self.dense[:n] if mode != "bm25" else []
        lexical = self.lexical[:n] if mode != "dense" else []
        if mode == "dense":
            fused = dense
        elif mode == "bm25":
            fused = lexical
        elif self.cross and cross_weights is not None:
            fused = fuse(dense, lexical, cross_weights[0], cross_weights[1], rrf_k)
        else:
            fused = fuse(dense, lexical, dw, bw, rrf_k)
        hits = [_hit(self.rows[cid], score, dense, lexical)
                for cid, score in fused[:n] if cid in self.rows]
        return collapse_near_duplicates(hits, k)


def reordered(settings, embedder, questions: dict[str, list[dict]], cache: dict[str, list[Cached]],
              n_of: dict[int, int], k: int) -> dict[str, dict]:
    """The hybrid top k with its head in the best-sentence order `qa search` shows
    (`qa.sentence_rerank`, fitted by scripts/fit_sentence_rerank.py); its first
    `context_passages` are the passages an answer reads (in the hybrid order, so R@5 is the
    answer's). Through the product's own reranker, with a sentence cache as large as the
    bench."""
    from qa.sentence_rerank import reranker_for
    from qa.support import SupportScorer

    s = settings
    reranker = reranker_for(s, SupportScorer(embedder, cache_size=200_000))
    if not reranker.active:
        print("No fitted passage order for this model: 'hybrid, reordered' = hybrid.")
    t0 = time.perf_counter()
    out = {}
    with embedder.using_threads(None):
        for qset, rows in questions.items():
            ranks = []
            for cached, r in zip(cache[qset], rows, strict=True):
                hits = cached.hits("hybrid", n_of[s.candidates], k, s.dense_weight,
                                   s.bm25_weight, s.rrf_k,
                                   (s.cross_dense_weight, s.cross_bm25_weight))
                hits = reranker.reorder(r["question"], hits, s.context_passages)
                ranks.append(first_rank(hits, r["doc"], r["_context"]))
            out[qset] = {"metrics": metrics(ranks), "ranks": ranks}
    print(f"Reordered {sum(len(v) for v in questions.values())} questions' passages in "
          f"{time.perf_counter() - t0:.0f} s")
    return out


# --------------------------------------------------------------------------- printing
def table(headers: list[str], rows: list[list[object]]) -> str:
    from qa.evaluation.report import md_table

    return md_table(headers, rows, digits=3)


def quality_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    rows = []
    for qset, modes in results.items():
        for mode, m in modes.items():
            rows.append([qset, mode, int(m["n"]), m["r@1"], m["r@5"], m["r@10"], m["mrr@10"]])
    return table(["set", "mode", "n", "R@1", "R@5", "R@10", "MRR@10"], rows)


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = args.bench.expanduser().resolve()
    sets = [s for s in args.sets.split(",") if s]
    corpora = [c for c in args.corpora.split(",") if c]
    missing = [c for c in corpora if not (bench / c / "corpus").is_dir()]
    missing += [s for s in sets if not (bench / s / "questions.jsonl").is_file()]
    if missing:
        print(f"Bench data not found under {bench} (missing: {', '.join(missing)}); nothing to "
              "measure. Pass --bench DIR.", file=sys.stderr)
        return 0

    from qa.embedding import Embedder
    from qa.retrieval import Retriever
    from qa.settings import Settings

    overrides = {
        k: v for k, v in {
            "chunk_tokens": args.chunk_tokens, "candidates": args.candidates,
            "dense_weight": args.dense_weight, "bm25_weight": args.bm25_weight,
            "rrf_k": args.rrf_k,
        }.items() if v is not None
    }
    settings = Settings(**overrides)
    tag = "" if corpora == list(CORPORA) else "-" + "+".join(corpora)
    index_dir = args.index_dir or Path(f"/tmp/qa-bench/index-ct{settings.chunk_tokens}{tag}")
    settings = settings.model_copy(update={"index_dir": index_dir})
    if args.torch_threads:
        settings = settings.model_copy(update={"torch_threads": args.torch_threads[0]})
    load0 = os.getloadavg()

    t0 = time.perf_counter()
    embedder = Embedder(settings)
    report = ensure_index(settings, bench, corpora)
    t_index = time.perf_counter() - t0
    questions = load_questions(bench, sets, args.limit)
    retriever = Retriever(settings, embedder)
    t1 = time.perf_counter()
    retriever.search("Wer ist der Bundeskanzler?", k=10)  # loads the model and the index
    t_load = time.perf_counter() - t1
    a_count, c_count = retriever.store.counts()
    print(f"\nIndex: {a_count} articles, {c_count} chunks; chunk_tokens={settings.chunk_tokens} "
          f"candidates={settings.candidates} dense_weight={settings.dense_weight} "
          f"bm25_weight={settings.bm25_weight} rrf_k={settings.rrf_k} "
          f"torch_threads={settings.torch_threads}; model+index load {t_load:.1f} s")

    # ---- candidate lists, once per question
    cand_grid = sorted(set(args.candidates_grid or [settings.candidates]) | {settings.candidates})
    k_eval = 10
    n_of = {c: max(c, k_eval * 3) for c in cand_grid}  # what Retriever.search(k=10) uses
    n_max = max(n_of.values())
    t2 = time.perf_counter()
    cache: dict[str, list[Cached]] = {}
    for qset, rows in questions.items():
        cache[qset] = [Cached(retriever, r["question"], n_max) for r in rows]
    t_cand = time.perf_counter() - t2
    print(f"Candidate lists for {sum(len(v) for v in cache.values())} questions: {t_cand:.1f} s")

    cross_share = {q: sum(c.cross for c in cache[q]) / max(1, len(cache[q])) for q in cache}
    print("Questions fused as cross-lingual: " + ", ".join(
        f"{q} {v:.1%}" for q, v in cross_share.items()))

    def evaluate(mode: str, c: int, dw: float, bw: float, rk: int,
                 cw: tuple[float, float] | None) -> dict[str, dict]:
        out = {}
        for qset, rows in questions.items():
            ranks = [first_rank(cached.hits(mode, n_of[c], k_eval, dw, bw, rk, cw),
                                r["doc"], r["_context"])
                     for cached, r in zip(cache[qset], rows, strict=True)]
            out[qset] = {"metrics": metrics(ranks), "ranks": ranks}
        return out

    s = settings
    cross_now = (s.cross_dense_weight, s.cross_bm25_weight)
    base = {
        mode: evaluate(mode, s.candidates, s.dense_weight, s.bm25_weight, s.rrf_k, cross_now)
        for mode in ("dense", "bm25", "hybrid")
    }
    quality = {qset: {mode: base[mode][qset]["metrics"] for mode in base} for qset in questions}
    if not args.no_reorder:
        base["hybrid, reordered"] = reordered(settings, embedder, questions, cache, n_of, k_eval)
        for qset in questions:
            quality[qset]["hybrid, reordered"] = base["hybrid, reordered"][qset]["metrics"]
    print(f"\n## Retrieval quality (settings: dense_weight={s.dense_weight}, bm25_weight="
          f"{s.bm25_weight}, rrf_k={s.rrf_k}, cross-lingual dense/BM25 {cross_now}, "
          f"candidates={s.candidates}, chunk_tokens={s.chunk_tokens})\n")
    print(quality_table(quality))
    checks = targets(quality)
    print("\nTargets: " + "; ".join(f"{k}: {'OK' if v else 'MISSED'}" for k, v in checks.items()))

    misses = miss_breakdown(questions, cache, base["hybrid"], n_of[settings.candidates])
    print("\n## Where the hybrid's misses at rank 5 are (a re-ranker can only move what a "
          "candidate list holds)\n")
    print(table(["set", "n", "misses", "gold in a top-20 list", "gold in a top-n list",
                 "in no list"],
                [[q, m["n"], m["misses"], m["top20"], m["topn"], m["none"]]
                 for q, m in misses.items()]))

    result: dict = {
        "misses": misses,
        "settings": json.loads(settings.model_dump_json()),
        "index": {"dir": str(index_dir), "articles": a_count, "chunks": c_count,
                  "build_s": t_index, "rebuild_reason": report.rebuild_reason,
                  "published": report.published},
        "load_s": t_load,
        "quality": quality,
        "targets": checks,
        "cross_share": cross_share,
        "loadavg_start": load0,
    }

    # ---- sweep: same-language weights on the sets asked mostly in the corpus' language,
    # then the cross-lingual weights on the others (each question uses one pair only)
    chosen_retriever = None
    if args.sweep:
        same_sets = [q for q in questions if cross_share[q] < 0.5]
        cross_sets = [q for q in questions if cross_share[q] >= 0.5]
        weights = args.weights or [0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0]
        grid = []
        t3 = time.perf_counter()
        for c in cand_grid:
            for rk in args.rrf_ks:
                for dw in weights:
                    ev = evaluate("hybrid", c, dw, s.bm25_weight, rk, cross_now)
                    grid.append({"candidates": c, "rrf_k": rk, "dense_weight": dw,
                                 "bm25_weight": s.bm25_weight,
                                 **{q: ev[q]["metrics"] for q in questions}})
        parts = {c: {m: {q: v["metrics"] for q, v in evaluate(m, c, 0, 1, 60, None).items()}
                     for m in ("dense", "bm25")} for c in cand_grid}
        for g in grid:
            g["mean_r5"] = statistics.mean(g[q]["r@5"] for q in same_sets or questions)
            g["mean_mrr"] = statistics.mean(g[q]["mrr@10"] for q in same_sets or questions)
            g["beats_parts"] = all(
                g[q]["r@5"] >= max(parts[g["candidates"]][m][q]["r@5"] for m in parts[
                    g["candidates"]]) for q in same_sets)
            g["meets_targets"] = all(
                g[q]["r@5"] >= TARGET_R5.get(q, 0) and g[q]["mrr@10"] >= TARGET_MRR10.get(q, 0)
                for q in same_sets)
        best = max(grid, key=lambda g: (g["meets_targets"] and g["beats_parts"], g["mean_mrr"],
                                        g["mean_r5"], -g["candidates"]))
        if args.pick:
            c, rk, dw = args.pick
            best = next(g for g in grid if (g["candidates"], g["rrf_k"], g["dense_weight"])
                        == (int(c), int(rk), dw))
        headers = ["cand", "rrf_k", "dense_w"]
        for q in questions:
            headers += [f"{q} R@1", f"{q} R@5", f"{q} MRR"]
        headers += ["mean R@5 (same-language sets)", ">= parts"]
        grid_rows: list[list[object]] = []
        for g in sorted(grid, key=lambda g: (g["candidates"], g["rrf_k"], g["dense_weight"])):
            row: list[object] = [g["candidates"], g["rrf_k"], g["dense_weight"]]
            for q in questions:
                row += [g[q]["r@1"], g[q]["r@5"], g[q]["mrr@10"]]
            row += [g["mean_r5"], "yes" if g["beats_parts"] else "no"]
            grid_rows.append(row)
        t_sweep = time.perf_counter() - t3
        print(f"\n## Fusion sweep, same-language questions (bm25_weight={s.bm25_weight}; "
              f"{len(grid)} settings in {t_sweep:.1f} s; picked on {', '.join(same_sets)})\n")
        print(table(headers, grid_rows))
        # cross-lingual pair at the chosen candidates / rrf_k
        cross_grid = []
        for cbw in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0):
            ev = evaluate("hybrid", best["candidates"], best["dense_weight"],
                          best["bm25_weight"], best["rrf_k"], (1.0, cbw))
            cross_grid.append({"cross_dense_weight": 1.0, "cross_bm25_weight": cbw,
                               **{q: ev[q]["metrics"] for q in questions}})
        pick_on = cross_sets or list(questions)
        best_cross = max(cross_grid, key=lambda g: (
            statistics.mean(g[q]["mrr@10"] for q in pick_on),
            statistics.mean(g[q]["r@5"] for q in pick_on)))
        print(f"\n## Cross-lingual weights (dense 1.0; picked on {', '.join(pick_on)})\n")
        print(table(["cross BM25 w", *[f"{q} R@5" for q in questions],
                     *[f"{q} MRR" for q in questions]],
                    [[g["cross_bm25_weight"], *[g[q]["r@5"] for q in questions],
                      *[g[q]["mrr@10"] for q in questions]] for g in cross_grid]))
        print(f"\n{'Picked' if args.pick else 'Best'}: candidates={best['candidates']} "
              f"rrf_k={best['rrf_k']} dense_weight={best['dense_weight']} "
              f"bm25_weight={best['bm25_weight']} cross (dense, BM25)=(1.0, "
              f"{best_cross['cross_bm25_weight']}) (targets met: {best['meets_targets']}, "
              f">= parts: {best['beats_parts']})")
        result["sweep"] = {"grid": grid, "cross_grid": cross_grid, "parts": parts,
                           "best": best, "best_cross": best_cross, "seconds": t_sweep}
        chosen_ev = evaluate("hybrid", best["candidates"], best["dense_weight"],
                             best["bm25_weight"], best["rrf_k"],
                             (1.0, best_cross["cross_bm25_weight"]))
        paired_rows = []
        result["sweep"]["paired"] = {}
        for name in ("bm25", "dense", "hybrid"):
            label = "current default hybrid" if name == "hybrid" else f"{name} only"
            for q in questions:
                for k in (1, 5):
                    pr = paired(chosen_ev[q]["ranks"], base[name][q]["ranks"], k)
                    result["sweep"]["paired"][f"{label}/{q}/r@{k}"] = pr
                    paired_rows.append([label, q, f"R@{k}", pr["wins"], pr["losses"], pr["diff"],
                                        f"[{pr['ci95'][0]:+.3f}, {pr['ci95'][1]:+.3f}]"])
        print("\nPaired comparison of the chosen setting with each baseline (wins = questions "
              "it answers and the baseline misses; bootstrap 95% CI of the recall difference)\n")
        print(table(["vs", "set", "metric", "wins", "losses", "diff", "95% CI"], paired_rows))

        if not args.no_confirm:
            chosen = settings.model_copy(update={
                "candidates": best["candidates"], "rrf_k": best["rrf_k"],
                "dense_weight": best["dense_weight"], "bm25_weight": best["bm25_weight"],
                "cross_dense_weight": 1.0,
                "cross_bm25_weight": best_cross["cross_bm25_weight"]})
            conf_retriever = Retriever(chosen, embedder)
            chosen_retriever = conf_retriever
            conf: dict[str, dict] = {}
            agree = total = 0
            for qset, rows_q in questions.items():
                ranks = []
                for cached, r in zip(cache[qset], rows_q, strict=True):
                    hits = conf_retriever.search(r["question"], k=k_eval, mode="hybrid")
                    ranks.append(first_rank(hits, r["doc"], r["_context"]))
                    mirror = cached.hits("hybrid", n_of[best["candidates"]], k_eval,
                                         best["dense_weight"], best["bm25_weight"],
                                         best["rrf_k"], (1.0, best_cross["cross_bm25_weight"]))
                    agree += [h.chunk_id for h in hits] == [h.chunk_id for h in mirror]
                    total += 1
                conf[qset] = metrics(ranks)
            conf_parts = {q: {"dense": quality[q]["dense"], "bm25": quality[q]["bm25"],
                              "hybrid (chosen)": conf[q]} for q in questions}
            print("\n## End-to-end confirmation through Retriever.search (chosen setting)\n")
            print(quality_table(conf_parts))
            print(f"\nTop-10 lists identical to the sweep's mirror fusion: {agree}/{total}")
            result["confirm"] = {"settings": {k: getattr(chosen, k) for k in (
                "candidates", "rrf_k", "dense_weight", "bm25_weight", "cross_dense_weight",
                "cross_bm25_weight")}, "quality": conf, "identical_lists": agree,
                "total": total}

    # ---- latency
    if not args.no_latency:
        result["latency"] = measure_latency(args, settings, retriever, embedder, questions,
                                            chosen_retriever)
        first = args.torch_threads[0] if args.torch_threads else settings.torch_threads
        p50 = result["latency"][f"hybrid/t{first}/f{FAISS_DEFAULT[0]}"]["p50_ms"]
        result["targets"]["hybrid p50 <= 50 ms"] = p50 <= TARGET_P50_MS
        print(f"\nTarget hybrid p50 <= {TARGET_P50_MS:.0f} ms (torch_threads={first}, FAISS "
              f"default threads): {'OK' if p50 <= TARGET_P50_MS else 'MISSED'} ({p50:.1f} ms)")

    result["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nWrote {args.out}")
    return 0


FAISS_DEFAULT = [0]


def measure_latency(args, settings, retriever, embedder, questions, chosen=None) -> dict:
    """p50/p95 of Retriever.search per mode x torch threads x FAISS OpenMP threads, plus the
    parts of a hybrid query (query embedding, FAISS search, BM25 search)."""
    import faiss
    import torch

    all_q = [r["question"] for rows in questions.values() for r in rows]
    if args.latency_n and args.latency_n < len(all_q):
        step = len(all_q) / args.latency_n
        all_q = [all_q[int(i * step)] for i in range(args.latency_n)]
    FAISS_DEFAULT[0] = faiss.omp_get_max_threads()
    faiss_threads = args.faiss_threads or sorted({FAISS_DEFAULT[0], 1}, reverse=True)
    store = retriever.store
    lat: dict = {}
    rows = []
    vecs: dict[str, object] = {}
    cpu: list[float] = []  # process CPU ms of the last timed() run (all threads)

    def timed(fn, qs) -> tuple[list[float], float, float]:
        for q in qs[:5]:
            fn(q)  # warm
        la = os.getloadavg()[0]
        times = []
        cpu.clear()
        for q in qs:
            t, c = time.perf_counter(), time.process_time()
            fn(q)
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        return times, la, os.getloadavg()[0]

    try:
        for threads in args.torch_threads or [settings.torch_threads]:
            torch.set_num_threads(threads)
            for fthreads in faiss_threads:
                faiss.omp_set_num_threads(fthreads)
                modes = [("hybrid", retriever), ("dense", retriever), ("bm25", retriever)]
                if chosen is not None:
                    cs = chosen.settings
                    modes.insert(1, (f"hybrid chosen (c={cs.candidates}, rrf_k={cs.rrf_k}, "
                                     f"dw={cs.dense_weight})", chosen))
                for mode, r in modes:
                    if mode == "bm25" and (threads, fthreads) != (
                            (args.torch_threads or [settings.torch_threads])[0],
                            faiss_threads[0]):
                        continue  # uses neither torch nor FAISS
                    m = mode.split()[0]
                    times, la, lb = timed(lambda q, r=r, m=m: r.search(q, mode=m), all_q)
                    entry = {"n": len(times), "p50_ms": pct(times, 50), "p95_ms": pct(times, 95),
                             "mean_ms": statistics.mean(times), "cpu_p50_ms": pct(cpu, 50),
                             "cpu_p95_ms": pct(cpu, 95), "load_before": la, "load_after": lb}
                    lat[f"{mode}/t{threads}/f{fthreads}"] = entry
                    rows.append([mode, threads, fthreads, len(times), entry["p50_ms"],
                                 entry["p95_ms"], entry["mean_ms"], pct(cpu, 50), pct(cpu, 95),
                                 f"{la:.2f} / {lb:.2f}"])
                sub = all_q[:200]
                vecs.clear()

                def enc(q: str) -> None:
                    vecs[q] = embedder.encode_query(q).reshape(1, -1)

                parts = {
                    "encode query": enc,
                    "FAISS search": lambda q: store.search.dense(vecs[q], settings.candidates,
                                                                 None),
                    "BM25 search": lambda q: store.search.lexical(q, settings.candidates, None),
                }
                for name, fn in parts.items():
                    times, la, lb = timed(fn, sub)
                    lat[f"part/{name}/t{threads}/f{fthreads}"] = {
                        "n": len(times), "p50_ms": pct(times, 50), "p95_ms": pct(times, 95),
                        "cpu_p50_ms": pct(cpu, 50), "cpu_p95_ms": pct(cpu, 95)}
                    rows.append([f"  ({name})", threads, fthreads, len(times), pct(times, 50),
                                 pct(times, 95), statistics.mean(times), pct(cpu, 50),
                                 pct(cpu, 95), f"{la:.2f} / {lb:.2f}"])
    finally:
        faiss.omp_set_num_threads(FAISS_DEFAULT[0])
        torch.set_num_threads(settings.torch_threads)
    print(f"\n## Query latency, Retriever.search(k={settings.top_k}), model load excluded "
          f"({os.cpu_count()} cores, shared with other jobs)\n")
    print(table(["mode", "torch threads", "FAISS threads", "n", "p50 ms", "p95 ms", "mean ms",
                 "CPU p50 ms", "CPU p95 ms", "loadavg before / after"], rows))
    print("\n(CPU ms = process CPU time per query, all threads: what the query costs on an "
          "idle core when single-threaded; wall ms include waiting for the shared cores.)")
    return lat


def paired(a: list[int | None], b: list[int | None], k: int, boots: int = 2000) -> dict:
    """Wins/losses of ranking a over b at recall@k, and a bootstrap 95% CI of the difference."""
    import numpy as np

    hit_a = np.array([r is not None and r <= k for r in a], dtype=int)
    hit_b = np.array([r is not None and r <= k for r in b], dtype=int)
    delta = hit_a - hit_b
    idx = np.random.default_rng(0).integers(0, len(delta), (boots, len(delta)))
    lo, hi = np.quantile(delta[idx].mean(axis=1), [0.025, 0.975])
    return {"wins": int((delta == 1).sum()), "losses": int((delta == -1).sum()),
            "diff": float(delta.mean()), "ci95": (float(lo), float(hi))}


def targets(quality: dict[str, dict[str, dict[str, float]]]) -> dict[str, bool]:
    """The issue's targets, on the product's ranking (reordered when measured)."""
    out = {}
    for qset, modes in quality.items():
        product = modes.get("hybrid, reordered", modes["hybrid"])
        if qset in TARGET_R5:
            target = TARGET_R5[qset]
            out[f"{qset} hybrid R@5 >= {target}"] = product["r@5"] >= target
        if qset in TARGET_MRR10:
            target = TARGET_MRR10[qset]
            out[f"{qset} hybrid MRR@10 >= {target}"] = product["mrr@10"] >= target
        best_part = max(modes["dense"]["r@5"], modes["bm25"]["r@5"])
        out[f"{qset} hybrid R@5 >= best part"] = product["r@5"] >= best_part
    return out

if __name__ == "__main__":
    sys.exit(main())
