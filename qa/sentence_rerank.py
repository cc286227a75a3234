"""Rank first the passage whose best sentence answers the question.

A chunk's single vector blurs a 200-token passage into one meaning; the sentence that answers
a question is sharper. The answer path embeds the retrieved passages' sentences anyway (the
gate, the prompt's focusing, the verifier, all through one cache), so ranking the passages by
their best sentence's cosine with the query costs almost nothing more. That ranking is fused
with the hybrid's own by reciprocal rank: each passage scores
`1 / (rrf_k + hybrid rank) + weight / (rrf_k + sentence rank)`.

`qa search` shows this order. An answer reads the first `context_passages` of it, kept in
the hybrid order (`select`): for a question in its passages' language those are the same
passages the hybrid ranks first, for an English question over German articles they come from
the top 10. Such a question has no BM25 half worth the name, so more of its answers sit at
hybrid ranks 6-10 (about 22 more sentences to embed per question). The weight, `rrf_k` and
both depths are fitted by `scripts/fit_sentence_rerank.py` on one half of the public bench
questions and stored, with what produced them, in `qa/data/sentence_rerank.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.extractive import is_instruction
from qa.retrieval import is_cross_lingual
from qa.schema import Hit
from qa.settings import Settings
from qa.support import SupportScorer, passage_sentences

RERANK_FILE = Path(__file__).parent / "data" / "sentence_rerank.json"


@dataclass(frozen=True)
class RerankParams:
    """The fitted fusion of the hybrid order and the best-sentence order."""

    weight: float
    rrf_k: int
    embed_model: str
    #: passages reordered for a question in its passages' language, and for one in another
    depth: int = 5
    depth_cross_lingual: int = 5
    fitted_at: str = ""


@lru_cache(maxsize=4)
def load_rerank_params(path: Path = RERANK_FILE) -> RerankParams | None:
    """The fitted parameters, or None when none were fitted (the hybrid order then stays)."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return RerankParams(weight=float(data["weight"]), rrf_k=int(data["rrf_k"]),
                        embed_model=str(data["embed_model"]), depth=int(data["depth"]),
                        depth_cross_lingual=int(data["depth_cross_lingual"]),
                        fitted_at=str(data.get("fitted", {}).get("at", "")))


def best_sentence_cosines(query_vector: np.ndarray, hits: list[Hit],
                          scorer: SupportScorer) -> list[float]:
    """Per passage, the best cosine of one of its sentences with the query (-1 for a passage
    of nothing but instructions to a model, which is never read)."""
    spans = [[s.text for s in passage_sentences(h.text) if not is_instruction(s.text)]
             for h in hits]
    texts = list(dict.fromkeys(t for sents in spans for t in sents))
    if not texts:
        return [-1.0] * len(hits)
    cos = dict(zip(texts, (scorer.passage_vectors(texts) @ query_vector).tolist(), strict=True))
    return [max((cos[t] for t in sents), default=-1.0) for sents in spans]


def fused_order(best: list[float], weight: float, rrf_k: int) -> list[int]:
    """Indices of the passages (given in hybrid order) in fused order; ties keep the hybrid
    order."""
    by_sentence = sorted(range(len(best)), key=lambda i: (-best[i], i))
    sentence_rank = {i: r for r, i in enumerate(by_sentence, start=1)}
    score = [1 / (rrf_k + i + 1) + weight / (rrf_k + sentence_rank[i]) for i in range(len(best))]
    return sorted(range(len(best)), key=lambda i: (-score[i], i))


class SentenceReranker:
    """Reorders retrieved passages by the fitted fusion; a no-op without fitted parameters
    for the scorer's embedding model (another model's cosines were never measured)."""

    def __init__(self, scorer: SupportScorer, params: RerankParams | None) -> None:
        self.scorer = scorer
        usable = (params is not None and scorer.embedder is not None
                  and params.embed_model == scorer.embedder.name and params.weight > 0)
        self.params = params if usable else None

    @property
    def active(self) -> bool:
        return self.params is not None

    def fetch(self, k: int) -> int:
        """Passages to retrieve so that `reorder(..., k)` has its pool."""
        p = self.params
        return max(k, p.depth, p.depth_cross_lingual) if p is not None else k

    def depth(self, query: str, hits: list[Hit], k: int) -> int:
        """Passages reordered for `query`: the fitted depth for its language pairing (read,
        as the gate reads it, from the first three passages), never fewer than `k`."""
        if self.params is None:
            return k
        cross = is_cross_lingual(query, [h.text for h in hits[:3]])
        return max(k, self.params.depth_cross_lingual if cross else self.params.depth)

    def reorder(self, query: str, hits: list[Hit], k: int) -> list[Hit]:
        """`hits` (hybrid order) with its first `depth` passages in fused order and the rest
        as they were: the ranking `qa search` and the retrieval metrics show (an answer reads
        `select`'s passages)."""
        n = self.depth(query, hits, k)
        return self.rerank(query, hits[:n]) + hits[n:]

    def select(self, query: str, hits: list[Hit], k: int) -> list[Hit]:
        """The `k` passages an answer reads: the first `k` of the fused order, kept in the
        hybrid order. The prompt's focusing and the quote picker score sentences themselves,
        with the hybrid rank as a prior; handing them the fused order counted the cosine
        twice (xquad-en, 100 quote-only answers: 74% contain gold instead of 77%)."""
        n = self.depth(query, hits, k)
        if n <= k:  # the same passages either way
            return hits[:k]
        chosen = {h.chunk_id for h in self.rerank(query, hits[:n])[:k]}
        return [h for h in hits if h.chunk_id in chosen]

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        """All of `hits` in fused order (the same passages)."""
        if self.params is None or len(hits) < 2 or self.scorer.embedder is None:
            return hits
        best = best_sentence_cosines(self.scorer.embedder.encode_query(query), hits, self.scorer)
        return [hits[i] for i in fused_order(best, self.params.weight, self.params.rrf_k)]


def reranker_for(settings: Settings, scorer: SupportScorer) -> SentenceReranker:
    """The reranker the settings ask for (inactive when `sentence_rerank` is off)."""
    params = (load_rerank_params(settings.sentence_rerank_file or RERANK_FILE)
              if settings.sentence_rerank else None)
    return SentenceReranker(scorer, params)

