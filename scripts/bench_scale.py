#!/usr/bin/env python
"""Scale benchmark: build indexes of ~100k and ~1M chunks and measure what a newsroom feels.

What is real and what is synthetic, and why:
- Text (BM25, SQLite): the real news-de articles and their real chunks (as the bench index
  chunked them), repeated with changed article ids and chunk ids until the size is reached.
  Repetition keeps the vocabulary of ~1k articles, so BM25 posting lists are longer and the
  vocabulary smaller than a real 1M-chunk archive's would be.
- Vectors (FAISS): embedding 1M real chunks takes about a day on this machine's two cores, so
  the real multilingual-e5-small vectors of the bench chunks (4 corpora, ~7.6k) are replicated
  with Gaussian noise and renormalised. The noise (sigma) is set so a copy is as close to its
  original as a real chunk is to its nearest real neighbour (median cosine), so copies do not
  collapse into exact duplicates that an approximate index could never order. Queries are real
  bench questions embedded with the real model. Vector i is not the embedding of text i: the
  synthetic index measures cost (time, memory, latency) and ANN-vs-exact recall, not answers.
- Recall on real text: the ANN configuration (IVF, `nlist` as the product picks it, the given
  nprobe values) against exact search on the real vectors of the 4 bench corpora, with the
  bench questions as queries (nothing synthetic).

Every measured step runs with one FAISS/torch thread. Open time and resident memory come from a
fresh subprocess that only opens the index (and then queries it). Query embedding is excluded
from the latency (queries are embedded once beforehand; its cost is reported separately).

    HF_HUB_OFFLINE=1 python scripts/bench_scale.py --sizes 100000 1000000 --json /tmp/scale.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from qa import dense_index  # noqa: E402
from qa.bm25 import BM25Index  # noqa: E402
from qa.dense_index import DenseIndex, DenseParams  # noqa: E402
from qa.schema import Article, Chunk  # noqa: E402
from qa.settings import Settings  # noqa: E402

CORPORA = ("xquad-de", "germanquad", "mlqa-de", "news-de")
QUESTION_SETS = ("germanquad", "xquad-de", "xquad-en")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    p.add_argument("--real-index", type=Path, default=Path("/tmp/qa-bench/index-ct200"),
                   help="an index of the 4 bench corpora (scripts/bench_retrieval.py leaves "
                   "one); built here when missing (~10-15 min)")
    p.add_argument("--work", type=Path, default=Path("/tmp/qa-scale"))
    p.add_argument("--queries", type=int, default=200, help="queries for latency and recall")
    p.add_argument("--real-queries", type=int, default=1000,
                   help="bench questions for the real-text recall (0 = all)")
    p.add_argument("--nprobes", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256])
    p.add_argument("--codecs", nargs="+", default=["SQ8", "Flat"])
    p.add_argument("--add-articles", type=int, default=1000)
    p.add_argument("--keep", action="store_true", help="keep the built indexes")
    p.add_argument("--dense-only", action="store_true",
                   help="only the vector index at each size: build time and recall/latency "
                   "against exact search per nprobe (no BM25, SQLite or add step)")
    p.add_argument("--json", type=Path, default=None, help="write every figure here")
    return p.parse_args(argv)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def recall_at(truth: np.ndarray, found: np.ndarray, k: int = 10) -> float:
    hits = [len(set(t[:k]) & set(f[:k])) / k for t, f in zip(truth, found, strict=True)]
    return float(np.mean(hits))


# --------------------------------------------------------------------------- real material
def real_index(args: argparse.Namespace, settings: Settings) -> Path:
    from qa.indexing import build_index
    from qa.store import current_folder

    folder = current_folder(args.real_index)
    if folder is None:
        log(f"building the real bench index in {args.real_index} (once) ...")
        build_index(settings.model_copy(update={"index_dir": args.real_index}),
                    [args.bench / c / "corpus" for c in CORPORA])
        folder = current_folder(args.real_index)
    assert folder is not None
    return folder


def questions(bench: Path, limit: int) -> list[str]:
    out = []
    for name in QUESTION_SETS:
        path = bench / name / "questions.jsonl"
        if path.is_file():
            out += [json.loads(line)["question"] for line in path.open(encoding="utf-8")]
    return out[:limit] if limit else out


def embed_queries(settings: Settings, texts: list[str]) -> tuple[np.ndarray, float]:
    from qa.embedding import Embedder

    embedder = Embedder(settings)
    embedder.encode_query(texts[0])  # warm-up
    start = time.perf_counter()
    vectors = np.stack([embedder.encode_query(t) for t in texts]).astype("float32")
    return vectors, (time.perf_counter() - start) * 1000 / len(texts)


def news_material(folder: Path) -> tuple[list[Article], dict[str, list[Chunk]]]:
    import sqlite3

    db = sqlite3.connect(f"file:{folder / 'meta.sqlite'}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT id, path, title, text, date, source, url, content_hash, date_origin"
        " FROM articles WHERE path LIKE '%/news-de/%' ORDER BY id").fetchall()
    articles = [Article(*r) for r in rows]
    chunks: dict[str, list[Chunk]] = {a.id: [] for a in articles}
    for aid, ordinal, start, end, text in db.execute(
            "SELECT article_id, ordinal, start, end, text FROM chunks ORDER BY id"):
        if aid in chunks:
            chunks[aid].append(Chunk(aid, ordinal, start, end, text))
    db.close()
    return articles, chunks


def noise_sigma(vectors: np.ndarray) -> tuple[float, float]:
    """Sigma giving a copy the median real nearest-neighbour cosine to its original."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    scores, _ = index.search(vectors, 2)
    cos = float(np.median(scores[:, 1]))
    return float(np.sqrt((1 / cos**2 - 1) / vectors.shape[1])), cos


_BLOCK = 8192


@functools.lru_cache(maxsize=2)
def _noise(block: int, dim: int, sigma: float) -> np.ndarray:
    return np.random.default_rng(block).normal(0, sigma, (_BLOCK, dim)).astype("float32")


def synthetic_vectors(base: np.ndarray, start: int, count: int, sigma: float) -> np.ndarray:
    """Rows start..start+count-1; a row gets the same noise however it is asked for."""
    parts = []
    for block in range(start // _BLOCK, (start + count - 1) // _BLOCK + 1):
        lo, hi = max(start, block * _BLOCK), min(start + count, (block + 1) * _BLOCK)
        parts.append(_noise(block, base.shape[1], sigma)[lo - block * _BLOCK:hi - block * _BLOCK])
    out = base[np.arange(start, start + count) % len(base)] + np.concatenate(parts)
    faiss.normalize_L2(out)
    return out


# --------------------------------------------------------------------------- real recall
def real_recall(args: argparse.Namespace, ids: np.ndarray, vectors: np.ndarray,
                queries: np.ndarray) -> list[dict[str, object]]:
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    truth = ids[truth]
    out: list[dict[str, object]] = []
    for codec in args.codecs:
        main, info = dense_index.train_ivf(ids, vectors, DenseParams(codec=codec))
        index = DenseIndex(main, info)
        for nprobe in args.nprobes:
            found = np.stack([
                np.asarray([i for i, _ in index.search(q, 10, None, nprobe)]
                           + [-1] * 10)[:10] for q in queries])
            out.append({"codec": codec, "nlist": info.nlist, "nprobe": nprobe,
                        "recall10": recall_at(truth, found), "n": len(vectors),
                        "queries": len(queries)})
            log(f"  real recall {out[-1]}")
    return out


# --------------------------------------------------------------------------- synthetic index
def build_synthetic(
    settings: Settings, index_dir: Path, size: int, articles: list[Article],
    chunks: dict[str, list[Chunk]], base: np.ndarray, sigma: float,
) -> dict[str, float]:
    from qa.indexing import chunker_config
    from qa.store import GenerationWriter, Manifest, build_lock

    shutil.rmtree(index_dir, ignore_errors=True)
    t0 = time.perf_counter()
    params = DenseParams.from_settings(settings)
    with build_lock(index_dir):
        writer = GenerationWriter(index_dir, None, base.shape[1], params)
        next_id, rep = 0, 0
        while next_id < size:
            for article in articles:
                if next_id >= size:
                    break
                new_id = f"{article.id}-r{rep}"
                writer.add_article(replace(article, id=new_id,
                                           content_hash=f"{article.content_hash}-r{rep}"))
                parts = [replace(c, article_id=new_id) for c in chunks[article.id]]
                ids = list(range(next_id, next_id + len(parts)))
                writer.add_chunks(ids, parts, synthetic_vectors(base, next_id, len(parts), sigma))
                next_id += len(parts)
            rep += 1
        t_rows = time.perf_counter()
        manifest = Manifest(
            embed_model=settings.embed_model, dimension=base.shape[1],
            query_prefix=settings.query_prefix_used, passage_prefix=settings.passage_prefix_used,
            chunker=chunker_config(settings), next_chunk_id=next_id, built_at="synthetic")
        timings = timed_publish(writer, manifest)
    return {"rows_s": t_rows - t0, **timings, "build_s": time.perf_counter() - t0,
            "chunks": next_id}


def timed_publish(writer: object, manifest: object) -> dict[str, float]:
    """publish(), with the BM25 build and the vector step timed apart (wrapped, not changed)."""

    spent = {"bm25_s": 0.0, "dense_s": 0.0}
    build, prepare, save = BM25Index.add, DenseIndex.prepare, DenseIndex.save

    depth = {"bm25_s": 0, "dense_s": 0}  # BM25Index.add calls itself per batch: count once

    def timed(key: str, fn):
        def run(*a, **kw):
            start = time.perf_counter()
            depth[key] += 1
            try:
                return fn(*a, **kw)
            finally:
                depth[key] -= 1
                if depth[key] == 0:
                    spent[key] += time.perf_counter() - start
        return run

    BM25Index.add = timed("bm25_s", build)  # type: ignore[method-assign]
    DenseIndex.prepare = timed("dense_s", prepare)  # type: ignore[method-assign]
    DenseIndex.save = timed("dense_s", save)  # type: ignore[method-assign]
    start = time.perf_counter()
    try:
        writer.publish(manifest)  # type: ignore[attr-defined]
    finally:
        BM25Index.add = build  # type: ignore[method-assign]
        DenseIndex.prepare, DenseIndex.save = prepare, save  # type: ignore[method-assign]
    return {**spent, "publish_s": time.perf_counter() - start}


def add_articles(
    settings: Settings, index_dir: Path, count: int, articles: list[Article],
    chunks: dict[str, list[Chunk]], base: np.ndarray, sigma: float,
) -> dict[str, float]:
    """Add `count` new articles as `qa index` would (a new generation), vectors given."""
    from qa.store import GenerationWriter, build_lock, current_folder, load_manifest

    t0 = time.perf_counter()
    with build_lock(index_dir):
        manifest = load_manifest(index_dir)
        assert manifest is not None
        writer = GenerationWriter(index_dir, current_folder(index_dir), base.shape[1],
                                  DenseParams.from_settings(settings))
        t_open = time.perf_counter()
        first = next_id = manifest.next_chunk_id
        for added, article in enumerate((articles * (count // len(articles) + 1))[:count]):
            new_id = f"{article.id}-add{added}"
            writer.add_article(replace(article, id=new_id, content_hash=f"add{added}"))
            parts = [replace(c, article_id=new_id) for c in chunks[article.id]]
            writer.add_chunks(list(range(next_id, next_id + len(parts))), parts,
                              synthetic_vectors(base, next_id, len(parts), sigma))
            next_id += len(parts)
        manifest.next_chunk_id = next_id
        timings = timed_publish(writer, manifest)
    return {"copy_and_load_s": t_open - t0, **timings, "total_s": time.perf_counter() - t0,
            "chunks_added": next_id - first}


def disk_sizes(index_dir: Path) -> dict[str, float]:
    from qa.store import current_folder

    folder = current_folder(index_dir)
    assert folder is not None

    def size(path: Path) -> float:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        return sum(p.stat().st_size for p in files) / 1e6

    return {"dense_mb": size(folder / "dense.faiss"), "bm25_mb": size(folder / "bm25"),
            "sqlite_mb": size(folder / "meta.sqlite"), "total_mb": size(folder)}


_PROBE = r"""
import json, os, sys, time
import numpy as np
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
import faiss, torch
faiss.omp_set_num_threads(1); torch.set_num_threads(1)
from qa.settings import Settings
from qa.store import open_index
from qa.retrieval import Retriever
cfg = json.loads(sys.argv[1])
settings = Settings(index_dir=cfg["index_dir"], torch_threads=1)
before = rss()
start = time.perf_counter()
store = open_index(settings.index_dir, settings)
open_s = time.perf_counter() - start
after_open = rss()
texts = cfg["texts"]
vectors = np.load(cfg["vectors"])
class Stub:  # the query vectors were embedded beforehand: latency without the model
    def encode_query(self, text):
        return vectors[texts.index(text)]
retriever = Retriever(settings, Stub())
retriever._store = store
out = {"open_s": open_s, "rss_before_open_mb": before, "rss_after_open_mb": after_open}
for mode in ("hybrid", "dense", "bm25"):
    for t in texts[:5]:
        retriever.search(t, mode=mode)
    times = []
    for t in texts:
        s = time.perf_counter()
        retriever.search(t, mode=mode)
        times.append((time.perf_counter() - s) * 1000)
    times.sort()
    out[mode] = {"p50_ms": times[len(times) // 2], "p95_ms": times[int(0.95 * (len(times) - 1))]}
out["rss_after_queries_mb"] = rss()
print(json.dumps(out))
"""


def probe(index_dir: Path, texts: list[str], vectors_file: Path) -> dict[str, object]:
    """Open and query the index in a fresh process (open time and memory of a cold start)."""
    cfg = json.dumps({"index_dir": str(index_dir), "texts": texts, "vectors": str(vectors_file)})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", _PROBE, cfg], capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def ann_recall(index_dir: Path, size: int, base: np.ndarray, sigma: float,
               queries: np.ndarray, nprobes: list[int], nprobe: int) -> dict[str, object]:
    """The published index against exact search over the same synthetic vectors, at the
    configured nprobe (`recall10`) and at each of `nprobes` (with the dense search p50)."""
    from qa.store import current_folder

    folder = current_folder(index_dir)
    assert folder is not None
    exact = faiss.IndexFlatIP(base.shape[1])
    for start in range(0, size, 100_000):
        exact.add(synthetic_vectors(base, start, min(100_000, size - start), sigma))
    times = []
    for q in queries[:50]:
        t = time.perf_counter()
        exact.search(q.reshape(1, -1), 50)
        times.append((time.perf_counter() - t) * 1000)
    _, truth = exact.search(queries, 10)
    del exact
    index = dense_index.load(folder)
    info = index.info
    sweep = nprobe_sweep(index, queries, truth, sorted({*nprobes, nprobe}), "")
    return {"recall10": sweep[nprobe]["recall10"], "exact_p50_ms": statistics.median(times),
            "kind": info.kind, "nlist": info.nlist, "sweep": sweep}


def nprobe_sweep(index: DenseIndex, queries: np.ndarray, truth: np.ndarray,
                 nprobes: list[int], label: str) -> dict[int, dict[str, float]]:
    """Recall@10 against `truth` and the dense search p50, per nprobe."""
    sweep = {}
    for probe in nprobes:
        spent, found = [], []
        for q in queries:
            t = time.perf_counter()
            hits = index.search(q, 50, None, probe)
            spent.append((time.perf_counter() - t) * 1000)
            found.append(([i for i, _ in hits] + [-1] * 10)[:10])
        sweep[probe] = {"recall10": recall_at(truth, np.asarray(found)),
                        "p50_ms": statistics.median(spent)}
        log(f"  {label}nprobe {probe}: {sweep[probe]}")
    return sweep


def dense_only(size: int, base: np.ndarray, sigma: float, queries: np.ndarray,
               nprobes: list[int], settings: Settings) -> dict[str, object]:
    """The IVF index the product would build at `size`, against exact search, per nprobe."""
    vectors = synthetic_vectors(base, 0, size, sigma)
    start = time.perf_counter()
    main, info = dense_index.train_ivf(np.arange(size, dtype="int64"), vectors,
                                       DenseParams.from_settings(settings))
    index = DenseIndex(main, info)
    build_s = time.perf_counter() - start
    exact = faiss.IndexFlatIP(base.shape[1])
    exact.add(vectors)
    del vectors
    _, truth = exact.search(queries, 10)
    del exact
    sweep = nprobe_sweep(index, queries, truth, nprobes, f"{size}: ")
    return {"size": size, "nlist": info.nlist, "codec": info.codec, "build_s": build_s,
            "sweep": sweep}


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    faiss.omp_set_num_threads(1)
    settings = Settings()
    results: dict[str, object] = {"settings": {
        "ann_min_vectors": settings.ann_min_vectors, "ann_nprobe": settings.ann_nprobe,
        "ann_codec": settings.ann_codec, "ann_retrain_growth": settings.ann_retrain_growth},
        "machine": f"{os.cpu_count()} cores, one thread per measurement"}
    folder = real_index(args, settings)
    real_ids, real_vectors = dense_index.load(folder, mmap=False).vectors()
    log(f"real vectors: {len(real_ids)} from {folder}")

    texts = questions(args.bench, args.real_queries)
    qvecs, embed_ms = embed_queries(settings, texts)
    results["query_embedding_ms"] = embed_ms
    log(f"embedded {len(texts)} bench questions, {embed_ms:.1f} ms each")
    results["real_recall"] = real_recall(args, real_ids, real_vectors, qvecs)

    sigma, nn_cos = noise_sigma(real_vectors)
    results["synthetic"] = {"sigma": sigma, "median_nn_cosine": nn_cos}
    log(f"noise sigma {sigma:.4f} (median real nearest-neighbour cosine {nn_cos:.3f})")
    articles, chunks = news_material(folder)
    log(f"news-de: {len(articles)} articles, {sum(map(len, chunks.values()))} chunks")

    step = max(1, len(texts) // args.queries)
    sample = texts[::step][:args.queries]
    sample_vecs = qvecs[::step][:args.queries]
    args.work.mkdir(parents=True, exist_ok=True)
    vectors_file = args.work / "queries.npy"
    np.save(vectors_file, sample_vecs)

    if args.dense_only:
        results["dense_only"] = [
            dense_only(size, real_vectors, sigma, sample_vecs, args.nprobes, settings)
            for size in args.sizes]
        print(json.dumps(results["dense_only"], indent=1))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        return 0
    rows = []
    for size in args.sizes:
        index_dir = args.work / f"index-{size}"
        log(f"--- {size} chunks: building ...")
        build = build_synthetic(settings.model_copy(update={"index_dir": index_dir}), index_dir,
                                size, articles, chunks, real_vectors, sigma)
        log(f"  build {build}")
        disk = disk_sizes(index_dir)
        opened = probe(index_dir, sample, vectors_file)
        log(f"  probe {opened}")
        recall = ann_recall(index_dir, size, real_vectors, sigma, sample_vecs,
                            args.nprobes, settings.ann_nprobe)
        log(f"  recall {recall}")
        added = add_articles(settings, index_dir, args.add_articles, articles, chunks,
                             real_vectors, sigma)
        log(f"  add {added}")
        reopened = probe(index_dir, sample[:20], vectors_file)
        row = {"size": size, "build": build, "disk": disk, "open": opened, "recall": recall,
               "add": added, "open_after_add_s": reopened["open_s"],
               "peak_rss_builder_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        rows.append(row)
        results["sizes"] = rows
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        if not args.keep:
            shutil.rmtree(index_dir, ignore_errors=True)

    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def markdown(results: dict[str, object]) -> str:
    lines = ["| chunks | build | open | RSS after open (imports) | on disk (vectors / BM25 / "
             "SQLite) | hybrid p50 / p95 | dense / BM25 p50 | ANN recall@10 vs exact | "
             "exact dense p50 | add 1,000 articles |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results.get("sizes", []):  # type: ignore[attr-defined]
        o, d, b, a, rc = r["open"], r["disk"], r["build"], r["add"], r["recall"]
        lines.append(
            f"| {r['build']['chunks']:,} | {b['build_s']:.0f} s (BM25 {b['bm25_s']:.0f} s, "
            f"vectors {b['dense_s']:.0f} s) | {o['open_s']:.2f} s | "
            f"{o['rss_after_open_mb']:.0f} MB ({o['rss_before_open_mb']:.0f}) | "
            f"{d['dense_mb']:.0f} / {d['bm25_mb']:.0f} / {d['sqlite_mb']:.0f} MB | "
            f"{o['hybrid']['p50_ms']:.1f} / {o['hybrid']['p95_ms']:.1f} ms | "
            f"{o['dense']['p50_ms']:.1f} / {o['bm25']['p50_ms']:.1f} ms | "
            f"{rc['recall10']:.3f} ({rc['kind']}, nlist {rc['nlist']}) | "
            f"{rc['exact_p50_ms']:.1f} ms | {a['total_s']:.0f} s (BM25 {a['bm25_s']:.0f} s) |")
    lines += ["", "| real bench vectors | codec | nlist | nprobe | recall@10 vs exact |",
              "|---|---|---|---|---|"]
    for r in results.get("real_recall", []):  # type: ignore[attr-defined]
        lines.append(f"| {r['n']:,} ({r['queries']} questions) | {r['codec']} | {r['nlist']} | "
                     f"{r['nprobe']} | {r['recall10']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
