"""Refusal-benchmark instances of a second kind: the detail asked for is left out.

`fit_gate.py` makes a question unanswerable by dropping its whole gold document; what is left
are other documents. The sample test set's unanswerable questions are of another kind: the
articles report the event but not the detail asked for (the hotel's name, how long a meeting
lasted). This builds that kind from the public bench without hand labels: every sentence that
holds the question's answer is cut out of every candidate chunk (questions whose answer occurs
in one document only), the changed chunks are scored anew (their e5 cosine to the question,
their BM25 score under the index's statistics) and the lists fused again, so the gold
document's other sentences stay in place as the nearest possible distractors.

Used by `fit_gate.py` (reported beside the document-dropped kind) and `bench_refusals.py
--kind detail`; cached under fit_gate's cache folder.
"""

from __future__ import annotations

import pickle
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import bench_retrieval as br
from bench_cache import CACHE, cache_key, half


def _norm(text: str) -> str:
    """As the indexer stores text (NFC, collapsed whitespace: `bench_retrieval.norm`), folded
    to lower case, so an answer is found in a sentence however either is written."""
    return br.norm(text).lower()


def bm25_score(bm25, query: str, title: str, text: str) -> float:
    """The BM25 score `bm25` (a `qa.bm25.BM25Index`) would give a chunk holding `text`, under
    the index's own statistics (the change of one chunk moves them negligibly)."""
    from qa.bm25 import K1, B, _idf, analyze, chunk_text

    terms = Counter(analyze(query))
    tokens = Counter(analyze(chunk_text(title, text)))
    length, avg = sum(tokens.values()), bm25.total_len / bm25.n_docs
    score = 0.0
    for term, count in terms.items():
        if term in bm25.term_id and tokens[term]:
            tf = tokens[term]
            weight = count * _idf(int(bm25.df[bm25.term_id[term]]), bm25.n_docs)
            score += weight * tf / (tf + K1 * ((1 - B) + B * length / avg))
    return score


def without_answer(text: str, answers: list[str]) -> str | None:
    """`text` without its sentences that hold one of `answers` (None when none does)."""
    from qa.support import passage_sentences

    sentences = passage_sentences(text)
    kept = [s.text for s in sentences if not any(a in _norm(s.text) for a in answers)]
    return " ".join(kept) if len(kept) < len(sentences) else None


def collect(settings, retriever, embedder, bench: Path, sets: list[str],
            candidates: int) -> tuple[list[dict], Counter[str]]:
    """Detail-held-out instances (`y` 0, `kind` "detail") of the questions whose gold passage
    the product retrieves, and how many questions each step left out. Cached by index
    generation, retrieval settings and bench files, as fit_gate's instances are."""
    from qa.embedding import passage_text
    from qa.store import current_folder

    files = [bench / s / "questions.jsonl" for s in sets]
    key = cache_key("detail", str(current_folder(settings.index_dir)),
                        [(str(f), f.stat().st_mtime) for f in files], candidates,
                        {k: getattr(settings, k) for k in (
                            "context_passages", "candidates", "dense_weight", "bm25_weight",
                            "rrf_k", "cross_dense_weight", "cross_bm25_weight", "embed_model")})
    path = CACHE / f"details-{key}.pkl"
    if path.is_file():
        rows, skipped = pickle.loads(path.read_bytes())
        print(f"{len(rows)} detail instances from {path}")
        return rows, skipped
    s = settings
    k, cross = s.context_passages, (s.cross_dense_weight, s.cross_bm25_weight)
    bm25 = retriever.store.search.bm25
    skipped: Counter[str] = Counter()
    pending = []
    t0 = time.perf_counter()
    for qset, qs in br.load_questions(bench, sets, 0).items():
        for q in qs:
            if q["n_docs_with_answer"] != 1:
                skipped["answer in another document too"] += 1
                continue
            cached = br.Cached(retriever, q["question"], candidates)
            hits = cached.hits("hybrid", s.candidates, k, s.dense_weight, s.bm25_weight,
                               s.rrf_k, cross)
            if br.first_rank(hits, q["doc"], q["_context"], k) is None:
                skipped["gold passage not retrieved"] += 1
                continue
            answers = [a for a in (_norm(x) for x in q["answers"]) if a]
            changed = {cid: t for cid, row in cached.rows.items()
                       if (t := without_answer(row.text, answers)) is not None}
            if not changed:
                skipped["answer not found in a sentence"] += 1
                continue
            pending.append((qset, q, cached, changed, answers))
        print(f"  {qset}: searched ({time.perf_counter() - t0:.0f} s)", flush=True)
    texts = list({passage_text(c.rows[cid].title, t) for *_, c, ch, _ in pending
                  for cid, t in ch.items() if t})
    print(f"embedding {len(texts)} chunks without their answer ...", flush=True)
    with embedder.using_threads(None):
        vectors = dict(zip(texts, embedder.encode_passages(texts, batch_size=32), strict=True))
    rows = []
    for qset, q, cached, changed, answers in pending:
        query = embedder.encode_query(q["question"])
        for cid, text in changed.items():
            row = cached.rows[cid]
            if not text:  # nothing left of the chunk
                cached.dense = [c for c in cached.dense if c[0] != cid]
                cached.lexical = [c for c in cached.lexical if c[0] != cid]
                continue
            cached.rows[cid] = replace(row, text=text)
            dense = float(vectors[passage_text(row.title, text)] @ query)
            lexical = bm25_score(bm25, q["question"], row.title, text)
            cached.dense = sorted(((c, dense if c == cid else v) for c, v in cached.dense),
                                  key=lambda c: -c[1])
            cached.lexical = sorted(((c, lexical if c == cid else v) for c, v in cached.lexical
                                     if (lexical if c == cid else v) > 0), key=lambda c: -c[1])
        hits = cached.hits("hybrid", s.candidates, k, s.dense_weight, s.bm25_weight, s.rrf_k,
                           cross)
        if any(a in _norm(h.text) for h in hits for a in answers):
            skipped["answer still in a passage"] += 1
            continue
        rows.append({"set": qset, "id": q["id"], "half": half(q["id"]),
                     "question": q["question"], "y": 0, "kind": "detail", "hits": hits})
    print(f"{len(rows)} detail instances in {time.perf_counter() - t0:.0f} s; left out: "
          f"{dict(skipped)}")
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps((rows, skipped)))
    return rows, skipped
