"""Lexical search: BM25 (bm25s) over German-analysed tokens.

Analysis is lowercase + Snowball German stemming (PyStemmer), no stop-word removal: on the
bench, stemmed BM25 beats the English MiniLM embedder on German, so it carries the fusion.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

_TOKEN = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("german")


def analyze(text: str) -> list[str]:
    """Lowercase word tokens, Snowball-German stemmed ("Forderungen" -> "forder")."""
    return list(_stemmer().stemWords(_TOKEN.findall(text.lower())))


class BM25Index:
    """A BM25 index whose rows map to chunk ids; rebuilt whole (it takes seconds)."""

    def __init__(self, model: bm25s.BM25, chunk_ids: np.ndarray) -> None:
        self.model = model
        self.chunk_ids = chunk_ids
        self._row_of = {int(c): i for i, c in enumerate(chunk_ids)}
        vocab = getattr(model, "vocab_dict", None) or {}
        self._vocab: set[str] = set(vocab)

    @classmethod
    def build(cls, chunk_ids: Sequence[int], texts: Sequence[str]) -> BM25Index:
        model = bm25s.BM25()
        tokens = [analyze(t) for t in texts]
        model.index(tokens, show_progress=False)
        return cls(model, np.asarray(chunk_ids, dtype="int64"))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(str(folder), show_progress=False)
        np.save(folder / "chunk_ids.npy", self.chunk_ids)

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        model = bm25s.BM25.load(str(folder), show_progress=False)
        return cls(model, np.load(folder / "chunk_ids.npy"))

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def search(
        self, query: str, n: int, allowed: set[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top-n (chunk_id, score) with score > 0, optionally only among `allowed` chunk ids."""
        terms = [t for t in analyze(query) if t in self._vocab]
        if not terms or len(self) == 0:
            return []
        mask = None
        if allowed is not None:
            mask = np.zeros(len(self), dtype="float32")
            rows = [self._row_of[c] for c in allowed if c in self._row_of]
            if not rows:
                return []
            mask[rows] = 1.0
        k = min(n, len(self))
        rows_out, scores = self.model.retrieve(
            [terms], k=k, show_progress=False, weight_mask=mask, n_threads=1
        )
        return [
            (int(self.chunk_ids[r]), float(s))
            for r, s in zip(rows_out[0], scores[0], strict=True)
            if s > 0
        ]

