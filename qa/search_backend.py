"""The two rankings a search fuses, behind one interface, whatever holds them.

- `local` (default): FAISS vectors (`qa.dense_index`) and segmented BM25 (`qa.bm25`) in the
  generation folder; a filter becomes the set of allowed chunk ids, read from SQLite.
- `milvus` (`QA_STORE=milvus`, `qa.milvus_backend`): one Milvus collection holds the vectors, the
  client-stemmed text with Milvus' own BM25, and the filter fields; a filter becomes an
  expression evaluated there, so nothing grows with the archive on the user's machine.

Retrieval, answers, the chat and `qa eval` see only `SearchBackend`; the index writer sees only
`SearchWriter`. SQLite (articles, chunk texts, dates) stays in the generation either way: it is
what a hit is shown from.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa import dense_index
from qa.bm25 import BM25FormatError, BM25Index, from_rows
from qa.dense_index import DenseIndex, DenseParams
from qa.schema import Filters

log = logging.getLogger(__name__)

#: (chunk id, article title, chunk text) of every chunk, the rows BM25 reads
CHUNK_ROWS_SQL = (
    "SELECT c.id, a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id"
)


SEARCH_FILE = "search.json"  # in a generation whose rankings live elsewhere (Milvus)


def search_config(folder: Path) -> dict[str, Any] | None:
    """Where a generation's rankings live, if not in its folder (None: FAISS + BM25 files)."""
    path = folder / SEARCH_FILE
    if not path.is_file():
        return None
    config: dict[str, Any] = json.loads(path.read_text())
    return config


@dataclass(frozen=True)
class IndexedChunk:
    """What a search backend stores of a chunk besides its vector."""

    article_id: str
    source: str | None
    date: str | None
    text: str  # what lexical search reads: the article's title, then the chunk


class SearchBackend(Protocol):
    """Dense and lexical top-n (chunk id, score) lists, best first, within a filter."""

    def count(self) -> int: ...

    def dense(self, vector: np.ndarray, n: int, where: Filters | None) -> list[tuple[int, float]]:
        ...

    def lexical(self, query: str, n: int, where: Filters | None) -> list[tuple[int, float]]: ...


class SearchWriter(Protocol):
    """Changes made while the next generation is written; `publish` makes them final."""

    def add(self, ids: list[int], chunks: list[IndexedChunk], vectors: np.ndarray) -> None: ...

    def remove(self, ids: list[int], texts: list[str]) -> None: ...

    def publish(self, folder: Path) -> None: ...

    def abort(self) -> None: ...


class LocalSearch:
    """FAISS + BM25 of one generation; filters are turned into chunk ids by `allowed`."""

    def __init__(
        self, dense: DenseIndex, bm25: BM25Index, allowed: Callable[[Filters], set[int]],
        nprobe: int,
    ) -> None:
        self.dense_index = dense
        self.bm25 = bm25
        self._allowed = allowed
        self.nprobe = nprobe
        self._last: tuple[Filters, set[int]] | None = None  # dense and lexical share a filter

    def count(self) -> int:
        return self.dense_index.ntotal

    def _ids(self, where: Filters | None) -> set[int] | None:
        if where is None:
            return None
        last = self._last
        if last is not None and last[0] == where:
            return last[1]
        ids = self._allowed(where)
        self._last = (where, ids)
        return ids

    def dense(self, vector: np.ndarray, n: int, where: Filters | None) -> list[tuple[int, float]]:
        return self.dense_index.search(vector, n, self._ids(where), self.nprobe)

    def lexical(self, query: str, n: int, where: Filters | None) -> list[tuple[int, float]]:
        return self.bm25.search(query, n, self._ids(where))


def load_bm25(folder: Path, db: sqlite3.Connection, *, mmap: bool = True) -> BM25Index:
    """The generation's BM25; one written by an older version (bm25s, format 1) is rebuilt
    from the stored chunks in memory, and the next `qa index` writes it anew (no re-embedding)."""
    try:
        return BM25Index.load(folder / "bm25", mmap=mmap)
    except BM25FormatError as exc:
        log.warning("%s: rebuilding BM25 from the stored chunks", exc)
        return from_rows(db.execute(f"{CHUNK_ROWS_SQL} ORDER BY c.id"))


class LocalSearchWriter:
    """Keeps the next generation's FAISS and BM25 files: vectors change at once, BM25 rows are
    indexed at publish (one new segment); unchanged files are hard-linked, not copied."""

    def __init__(
        self, base: Path | None, dimension: int, params: DenseParams, db: sqlite3.Connection
    ) -> None:
        self.params = params
        self.dense = DenseIndex.empty(dimension) if base is None else dense_index.load(base)
        self.bm25 = BM25Index() if base is None else load_bm25(base, db)
        self._new: dict[int, str] = {}  # chunk id -> BM25 text, indexed at publish

    def add(self, ids: list[int], chunks: list[IndexedChunk], vectors: np.ndarray) -> None:
        if ids:
            self.dense.add(np.asarray(ids, dtype="int64"), vectors)
        for chunk_id, chunk in zip(ids, chunks, strict=True):
            self._new[chunk_id] = chunk.text

    def remove(self, ids: list[int], texts: list[str]) -> None:
        if not ids:
            return
        self.dense.remove(np.asarray(ids, dtype="int64"))
        old = [(i, t) for i, t in zip(ids, texts, strict=True) if self._new.pop(i, None) is None]
        self.bm25.remove([i for i, _ in old], [t for _, t in old])

    def publish(self, folder: Path) -> None:
        new = sorted(self._new)
        self.bm25.add(new, [self._new[i] for i in new])
        self.bm25.save(folder / "bm25")
        self.dense.prepare(self.params)
        self.dense.save(folder)

    def abort(self) -> None:
        """Nothing left behind: every file is in the generation's temporary folder."""
