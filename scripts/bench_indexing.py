#!/usr/bin/env python
"""Indexing speed: the build_index pipeline against raw SentenceTransformer.encode.

1. A fresh `build_index` into an empty index folder (the embedding model is loaded before the
   clock starts, so the model load is reported separately and not charged to either side).
2. Raw `SentenceTransformer.encode` of the SAME chunk texts, read back from the index just
   built in chunk-id (= embedding) order and title-prefixed exactly as the pipeline embeds them
   (`qa.embedding.passage_text` + `passage_prefix`), with the same batch size, normalisation
   and torch threads.  Target: pipeline <= 1.15x raw encode.
3. `build_index` again on the unchanged corpus.  Target: < 5% of the first build.

Wall and process-CPU time are both reported: the machine is shared, and CPU time is the less
noisy of the two when other jobs compete for the cores.  `--order raw-first` (default
`sandwich`: raw, pipeline, raw) guards against load drift.

Examples:
    HF_HUB_OFFLINE=1 python scripts/bench_indexing.py
    HF_HUB_OFFLINE=1 python scripts/bench_indexing.py --folders ../shared/bench/germanquad/corpus
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CORPORA = ("xquad-de", "germanquad", "mlqa-de", "news-de")
TARGET_RATIO = 1.15
TARGET_NOOP = 0.05


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench",
                   help="bench data folder (default: ../shared/bench from the repo root)")
    p.add_argument("--folders", type=Path, nargs="+", default=None,
                   help="folders to index instead of the four bench corpora")
    p.add_argument("--index-dir", type=Path, default=None,
                   help="where to build (must not exist or be empty; default: a temp folder "
                        "under /tmp, removed afterwards unless --keep)")
    p.add_argument("--keep", action="store_true", help="keep the temp index folder")
    p.add_argument("--chunk-tokens", type=int, default=None)
    p.add_argument("--torch-threads", type=int, default=None,
                   help="threads while embedding (settings.index_threads; default all cores)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--order", choices=("sandwich", "raw-first", "pipeline-first"),
                   default="sandwich", help="sandwich = raw, pipeline, raw (default)")
    p.add_argument("--out", type=Path, default=Path("/tmp/bench_indexing.json"))
    return p.parse_args(argv)


class Clock:
    def __enter__(self) -> Clock:
        self.load0 = os.getloadavg()[0]
        self.w = time.perf_counter()
        self.c = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.w
        self.cpu = time.process_time() - self.c
        self.load1 = os.getloadavg()[0]

    def as_dict(self) -> dict[str, float]:
        return {"wall_s": self.wall, "cpu_s": self.cpu, "load_before": self.load0,
                "load_after": self.load1}


def table(headers: list[str], rows: list[list[object]]) -> str:
    from qa.evaluation.report import md_table

    return md_table(headers, rows, digits=2)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.folders:
        folders = [f.expanduser().resolve() for f in args.folders]
        absent = [str(f) for f in folders if not f.exists()]
    else:
        bench = args.bench.expanduser().resolve()
        folders = [bench / c / "corpus" for c in CORPORA]
        absent = [str(f) for f in folders if not f.is_dir()]
    if absent:
        print(f"Corpus not found ({', '.join(absent)}); nothing to measure. Pass --bench DIR or "
              "--folders.", file=sys.stderr)
        return 0

    import numpy as np
    import torch

    from qa.embedding import Embedder, passage_text
    from qa.indexing import build_index
    from qa.settings import Settings
    from qa.store import open_index

    temp = args.index_dir is None
    index_dir = Path(tempfile.mkdtemp(prefix="qa-bench-indexing-", dir="/tmp")) if temp \
        else args.index_dir
    if index_dir.exists() and any(index_dir.iterdir()):
        print(f"{index_dir} is not empty; a fresh build needs an empty folder.", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in {"chunk_tokens": args.chunk_tokens,
                                   "index_threads": args.torch_threads,
                                   "embed_batch_size": args.batch_size}.items() if v is not None}
    settings = Settings(index_dir=index_dir, **overrides)
    try:
        return run(args, settings, folders, index_dir, np, torch, Embedder, passage_text,
                   build_index, open_index)
    finally:
        if temp and not args.keep:
            shutil.rmtree(index_dir, ignore_errors=True)


def run(args, settings, folders, index_dir, np, torch, Embedder, passage_text, build_index,
        open_index) -> int:
    print(f"Folders: {', '.join(str(f) for f in folders)}\nIndex: {index_dir}\n"
          f"index_threads={settings.index_threads or os.cpu_count()} "
          f"embed_batch_size={settings.embed_batch_size} "
          f"chunk_tokens={settings.chunk_tokens} model={settings.embed_model}", flush=True)

    # One warm model, shared by the pipeline and the raw encode (load time excluded from both).
    embedder = Embedder(settings)
    with Clock() as load:
        model = embedder.model
        embedder.count_tokens("warm up")
        model.encode(["warm up"], batch_size=1)
    threads = settings.index_threads or os.cpu_count() or 1  # what build_index embeds with
    torch.set_num_threads(threads)
    print(f"Model load {load.wall:.1f} s; torch threads {torch.get_num_threads()}", flush=True)

    def progress(stage: str, done: int, total: int, _last=[0.0]) -> None:  # noqa: B006
        now = time.monotonic()
        if now - _last[0] > 30 or (done == total and stage == "embed"):
            _last[0] = now
            print(f"  [{stage}] {done}/{total} load={os.getloadavg()[0]:.1f}", flush=True)

    texts: list[str] = []

    def pipeline() -> tuple[Clock, Any]:
        with Clock() as clk:
            report = build_index(settings, folders, embedder=embedder, progress=progress)
        return clk, report

    def raw() -> Clock:
        with Clock() as clk:
            vectors = model.encode(
                [settings.passage_prefix_used + t for t in texts],
                batch_size=settings.embed_batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            np.ascontiguousarray(vectors, dtype="float32")
        return clk

    def load_texts() -> None:
        store = open_index(index_dir)
        rows = store.db.execute(
            "SELECT a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id"
            " ORDER BY c.id").fetchall()
        texts[:] = [passage_text(title, text) for title, text in rows]

    raws: list[Clock] = []
    if args.order == "pipeline-first":
        print("Fresh build_index ...", flush=True)
        first, report = pipeline()
        load_texts()
        print(f"Raw encode of {len(texts)} chunk texts ...", flush=True)
        raws.append(raw())
    else:
        # The chunk texts are needed before the pipeline runs: get them from a throwaway build
        # with the embedder stubbed out (chunking only), so raw encode can go first.
        texts[:] = chunk_texts(settings, folders, embedder, passage_text)
        print(f"Raw encode of {len(texts)} chunk texts ...", flush=True)
        raws.append(raw())
        print(f"  {raws[-1].wall:.1f} s", flush=True)
        print("Fresh build_index ...", flush=True)
        first, report = pipeline()
        check = list(texts)
        load_texts()
        if check != texts:
            print("WARNING: the pipeline's chunk texts differ from the pre-chunked ones",
                  file=sys.stderr)
        if args.order == "sandwich":
            print(f"Raw encode again ({len(texts)} texts) ...", flush=True)
            raws.append(raw())

    print("build_index again on the unchanged corpus ...", flush=True)
    noops = []
    for _ in range(3):
        clk, again = pipeline()
        noops.append((clk, again))
    assert not any(a.published for _, a in noops), "unchanged corpus was re-published"

    t = report.timings
    raw_wall = statistics.mean(r.wall for r in raws)
    raw_cpu = statistics.mean(r.cpu for r in raws)
    ratio_wall = first.wall / raw_wall
    ratio_cpu = first.cpu / raw_cpu
    noop_wall = statistics.median(c.wall for c, _ in noops)
    rows = [
        [f"raw encode #{i + 1}", r.wall, r.cpu, "", f"{r.load0:.2f} / {r.load1:.2f}"]
        for i, r in enumerate(raws)
    ]
    rows.append(["build_index (fresh)", first.wall, first.cpu, f"{ratio_wall:.3f}x wall, "
                 f"{ratio_cpu:.3f}x cpu", f"{first.load0:.2f} / {first.load1:.2f}"])
    for name in ("scan_s", "chunk_s", "embed_s", "write_s"):
        share = t.get(name, 0.0) / t["total_s"] if t.get("total_s") else 0.0
        rows.append([f"  {name[:-2]}", t.get(name, 0.0), "", f"{share:.1%} of build", ""])
    for i, (clk, _) in enumerate(noops, start=1):
        rows.append([f"build_index again #{i} (unchanged)", clk.wall, clk.cpu,
                     f"{clk.wall / first.wall:.2%} of first", f"{clk.load0:.2f} / {clk.load1:.2f}"])
    print(f"\n## Indexing speed ({report.articles_total} articles, {report.chunks_total} chunks, "
          f"{threads} torch threads, batch {settings.embed_batch_size})\n")
    print(table(["step", "wall s", "cpu s", "ratio", "loadavg before / after"], rows))
    tokens = sum(embedder.count_tokens(settings.passage_prefix_used + x) + 2 for x in texts)
    articles = max(1, report.articles_total)
    print(f"\nEmbedded {tokens:,} tokens = {tokens / articles:,.0f} per article "
          f"({len(texts) / articles:.1f} chunks of {tokens / max(1, len(texts)):.0f} tokens); "
          f"{len(texts) / max(1e-9, t.get('embed_s', 0.0)):.1f} chunks/s, "
          f"{tokens / max(1e-9, t.get('embed_s', 0.0)):,.0f} tokens/s in the embed stage")
    embed_vs_raw = t.get("embed_s", 0.0) / raw_wall
    print(f"\nPipeline / raw encode: {ratio_wall:.3f}x wall, {ratio_cpu:.3f}x CPU "
          f"(target <= {TARGET_RATIO}x: {'OK' if ratio_wall <= TARGET_RATIO else 'MISSED'}); "
          f"embed stage alone / raw: {embed_vs_raw:.3f}x")
    print(f"Unchanged re-run: median {noop_wall:.2f} s = {noop_wall / first.wall:.2%} of the "
          f"first build (target < {TARGET_NOOP:.0%}: "
          f"{'OK' if noop_wall / first.wall < TARGET_NOOP else 'MISSED'})")

    result = {
        "settings": json.loads(settings.model_dump_json()),
        "folders": [str(f) for f in folders],
        "articles": report.articles_total, "chunks": report.chunks_total,
        "model_load": load.as_dict(),
        "raw_encode": [r.as_dict() for r in raws],
        "pipeline": {**first.as_dict(), "timings": t},
        "ratio_wall": ratio_wall, "ratio_cpu": ratio_cpu, "embed_stage_vs_raw": embed_vs_raw,
        "tokens_embedded": tokens, "tokens_per_article": tokens / articles,
        "chunks_per_s": len(texts) / max(1e-9, t.get("embed_s", 0.0)),
        "noop": [{**c.as_dict(), "timings": a.timings} for c, a in noops],
        "noop_fraction": noop_wall / first.wall,
        "targets": {"pipeline <= 1.15x raw (wall)": ratio_wall <= TARGET_RATIO,
                    "re-run < 5% of first": noop_wall / first.wall < TARGET_NOOP},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nWrote {args.out}")
    return 0


def chunk_texts(settings, folders, embedder, passage_text) -> list[str]:
    """The texts the pipeline will embed, in its order (scan + clean + chunk, no embedding)."""
    from qa.chunking import ChunkerConfig, chunk_article
    from qa.indexing import IndexReport, _scan

    roots = [Path(f).expanduser().resolve() for f in folders]
    scan = _scan(roots, None, {}, set(), settings, IndexReport(), None)
    config = ChunkerConfig(settings.chunk_tokens, settings.chunk_overlap_sentences)
    out = []
    for article in scan.new_articles:
        for c in chunk_article(article.id, article.title, article.text, embedder.count_tokens,
                               config):
            out.append(passage_text(article.title, c.text))
    return out


if __name__ == "__main__":
    sys.exit(main())
