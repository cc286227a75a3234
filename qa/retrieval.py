"""Hybrid search: dense (FAISS) and BM25 rankings fused by weighted reciprocal rank.

A question in another language than the passages it finds (an English question over German
articles) shares no words with them, so BM25 only adds noise there: such a question is fused
with its own weights (`cross_*`). The default weights were chosen on the bench's public
questions (`scripts/bench_retrieval.py --sweep`), not on the sample corpus.
"""

from __future__ import annotations

import threading
from typing import Literal

import faiss

from qa.bm25 import analyze
from qa.embedding import Embedder
from qa.language import language
from qa.question_time import (
    PARAMS_FILE,
    Period,
    event_day_from_store,
    load_params,
    question_period,
    reference_day,
    rerank_by_period,
    strip_period,
)
from qa.schema import Filters, Hit, SearchScope
from qa.settings import Settings
from qa.store import ChunkRow, IndexMissingError, IndexStore, current_folder, open_index

Mode = Literal["hybrid", "dense", "bm25"]


class Retriever:
    """Searches the live index; picks up a newly published generation on the next query."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or Embedder(settings)
        # FAISS's OpenMP pool defaults to every core; on a busy 2-core machine its threads
        # wait on each other (24 ms per search vs 0.5 ms with one), like torch's do.
        faiss.omp_set_num_threads(settings.torch_threads)
        self._store: IndexStore | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> IndexStore:
        """The live generation, reloaded if `qa index` published a newer one."""
        folder = current_folder(self.settings.index_dir)
        with self._lock:
            if self._store is None or folder != self._store.folder:
                store = open_index(self.settings.index_dir, self.settings)
                if store.manifest.embed_model != self.settings.embed_model:
                    raise IndexMissingError(
                        f"The index was built with {store.manifest.embed_model}, but the "
                        f"embedding model is now {self.settings.embed_model}. Run: qa index"
                    )
                self._store = store
            return self._store

    def scope(self, filters: Filters | None) -> SearchScope | None:
        """What `filters` let a search see (None without filters)."""
        if filters is None or not filters.active():
            return None
        return self.store.scope(filters.source, filters.date_from, filters.date_to,
                                filters.include_undated)

    def question_period(self, query: str, filters: Filters | None = None) -> Period | None:
        """The period `query` asks about ("im Dezember 2021"), unless the user set a date
        filter (theirs wins) or reading periods is off. Days and months without a year take
        the newest article's year; an event ("nach dem Videogipfel") the earliest dated
        article naming it."""
        if not self.settings.question_time or (filters and (filters.date_from or
                                                            filters.date_to)):
            return None
        store = self.store
        return question_period(query, reference_day([store.newest_date()]),
                               event_day_from_store(store))

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
        period: Period | None = None,
    ) -> list[Hit]:
        """Top-k passages for `query`, near-duplicates collapsed; with a `period` (see
        `question_period`) the time phrase is searched without and passages from the period
        are ranked first, as `qa/data/question_time.json` says (never dropped)."""
        if not query.strip():
            raise ValueError("The question is empty.")
        k = k or self.settings.top_k
        params = load_params(self.settings.question_time_file or PARAMS_FILE) if period else None
        if period is not None and params and params.get("query") == "strip":
            query = strip_period(query, period) or query
        store = self.store
        where = filters if filters and filters.active() else None
        if where is not None and not store.any_article(where):
            return []
        n = max(self.settings.candidates, k * 3)
        dense = self._dense(store, query, n, where) if mode != "bm25" else []
        lexical = store.search.lexical(query, n, where) if mode != "dense" else []
        cross = mode == "hybrid" and is_cross_lingual(
            query, [r.text for r in store.chunk_rows([c for c, _ in dense[:3]]).values()]
        )
        fused = self._fuse(dense, lexical, mode, cross)
        rows = store.chunk_rows([cid for cid, _ in fused[: n]])
        hits = [
            _hit(rows[cid], score, dense, lexical) for cid, score in fused[:n] if cid in rows
        ]
        rerank = (params or {}).get("rerank")
        if period is None or not rerank:
            return collapse_near_duplicates(hits, k)
        deep = collapse_near_duplicates(hits, max(k, int(rerank.get("depth", 50))))
        return rerank_by_period(deep, period, float(rerank["weight"]),
                                float(rerank.get("undated_weight", 0.0)),
                                float(rerank.get("scale_days", 0.0)))[:k]

    def _dense(
        self, store: IndexStore, query: str, n: int, where: Filters | None
    ) -> list[tuple[int, float]]:
        vector = self.embedder.encode_query(query).reshape(1, -1)
        return store.search.dense(vector, n, where)

    def _fuse(
        self,
        dense: list[tuple[int, float]],
        lexical: list[tuple[int, float]],
        mode: Mode,
        cross: bool = False,
    ) -> list[tuple[int, float]]:
        if mode == "dense":
            return dense
        if mode == "bm25":
            return lexical
        s = self.settings
        weights = (s.cross_dense_weight, s.cross_bm25_weight) if cross else (
            s.dense_weight, s.bm25_weight)
        return fuse(dense, lexical, weights[0], weights[1], s.rrf_k)


def fuse(
    dense: list[tuple[int, float]], lexical: list[tuple[int, float]], dense_weight: float,
    bm25_weight: float, rrf_k: int,
) -> list[tuple[int, float]]:
    """Weighted reciprocal-rank fusion: each ranking adds weight / (rrf_k + rank)."""
    scores: dict[int, float] = {}
    for weight, ranking in ((dense_weight, dense), (bm25_weight, lexical)):
        if weight == 0:
            continue
        for rank, (cid, _) in enumerate(ranking, start=1):
            scores[cid] = scores.get(cid, 0.0) + weight / (rrf_k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def is_cross_lingual(query: str, top_passages: list[str]) -> bool:
    """The question's language differs from that of most of its best dense passages."""
    if not top_passages:
        return False
    lang = language(query)
    other = sum(language(text) != lang for text in top_passages)
    return other * 2 > len(top_passages)


def _hit(
    row: ChunkRow, score: float, dense: list[tuple[int, float]], lexical: list[tuple[int, float]]
) -> Hit:
    d_rank = next((i for i, (c, _) in enumerate(dense, 1) if c == row.chunk_id), None)
    b_rank = next((i for i, (c, _) in enumerate(lexical, 1) if c == row.chunk_id), None)
    return Hit(
        chunk_id=row.chunk_id, article_id=row.article_id, ordinal=row.ordinal, start=row.start,
        end=row.end, text=row.text, title=row.title, date=row.date, source=row.source,
        date_origin=row.date_origin, path=row.path, score=score, dense_rank=d_rank,
        bm25_rank=b_rank,
        dense_score=dense[d_rank - 1][1] if d_rank else None,
        bm25_score=lexical[b_rank - 1][1] if b_rank else None,
    )


def collapse_near_duplicates(hits: list[Hit], k: int, threshold: float = 0.8) -> list[Hit]:
    """Drop a hit that mostly repeats a better one: overlapping spans of one article, or the
    same text in two articles (syndicated agency copy)."""
    kept: list[tuple[Hit, set[str]]] = []
    for hit in hits:
        terms = set(analyze(hit.text))
        duplicate = False
        for other, other_terms in kept:
            if other.article_id == hit.article_id:
                overlap = min(hit.end, other.end) - max(hit.start, other.start)
                shorter = min(hit.end - hit.start, other.end - other.start)
                duplicate = shorter > 0 and overlap / shorter > 0.5
            else:
                union = len(terms | other_terms)
                duplicate = union > 0 and len(terms & other_terms) / union >= threshold
            if duplicate:
                break
        if not duplicate:
            kept.append((hit, terms))
            if len(kept) == k:
                break
    return [hit for hit, _ in kept]
