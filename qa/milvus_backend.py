"""`QA_STORE=milvus`: a generation's rankings in a Milvus collection (client: `qa.milvus_index`).

What changes for a user: the vectors and the BM25 postings live in Milvus (a cluster, or Milvus
Lite in a file); the index folder keeps SQLite (article texts, dates, what a hit is shown from)
and, per generation, `search.json` naming the collection. The same filters, incremental updates
and answers; nothing above `qa.search_backend` knows the difference.

- Collections: one per full build, named `<QA_MILVUS_COLLECTION>_<index id>_<generation>`; later
  generations reuse it. A collection that neither the new generation nor the one before it names
  is dropped when a generation is published (the index id keeps two indexes on one cluster
  apart).
- Switching an index from local files to Milvus copies the live generation's vectors into a new
  collection: nothing is embedded again.
- Consistency: chunks are inserted while the generation is written (an aborted build deletes
  them again; an aborted first build drops its collection) and removed once it is published. In
  between, searches of the live generation may meet chunk ids its SQLite does not know; they are
  skipped (`Retriever.search` shows only chunks it can read).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from qa import dense_index
from qa.milvus_index import MilvusIndex, MilvusRow, Where
from qa.schema import Filters
from qa.search_backend import SEARCH_FILE, IndexedChunk, search_config
from qa.settings import Settings

ID_FILE = "index-id"
COPY_BATCH = 2_000


def milvus_uri(settings: Settings) -> str:
    """The configured Milvus, or Milvus Lite in a file beside the generations."""
    return settings.milvus_uri or str(settings.index_dir / "milvus.db")


def _where(filters: Filters | None) -> Where | None:
    return None if filters is None else Where(**asdict(filters))


class MilvusSearch:
    """`SearchBackend` over one collection: filters become Milvus expressions."""

    def __init__(self, index: MilvusIndex) -> None:
        self.index = index

    def count(self) -> int:
        return self.index.count()

    def dense(self, vector: np.ndarray, n: int, where: Filters | None) -> list[tuple[int, float]]:
        return self.index.dense(vector.reshape(-1), n, _where(where))

    def lexical(self, query: str, n: int, where: Filters | None) -> list[tuple[int, float]]:
        return self.index.lexical(query, n, _where(where))


def open_search(
    config: dict[str, Any], dimension: int, token: str | None, ef: int
) -> MilvusSearch:
    """The search of a generation whose `search.json` is `config`."""
    return MilvusSearch(MilvusIndex(str(config["uri"]), str(config["collection"]), dimension,
                                    token, ef=ef))


def index_id(index_dir: Path) -> str:
    """A random id for this index folder, made once: part of its collections' names."""
    path = index_dir / ID_FILE
    if not path.is_file():
        path.write_text(secrets.token_hex(4) + "\n")
    return path.read_text().strip()


class MilvusSearchWriter:
    """`SearchWriter` for the next generation: inserts at once, deletes on publish."""

    def __init__(
        self, settings: Settings, index_dir: Path, base: Path | None, final: Path,
        dimension: int, db: sqlite3.Connection,
    ) -> None:
        self.uri = milvus_uri(settings)
        self.prefix = f"{settings.milvus_collection}_{index_id(index_dir)}_"
        self.base_config = search_config(base) if base is not None else None
        reuse = self.base_config is not None and self.base_config.get("uri") == self.uri
        if reuse and self.base_config is not None:
            self.collection = str(self.base_config["collection"])
        else:
            self.collection = self.prefix + final.name.replace("-", "_")
        self.new = not reuse
        self.index = MilvusIndex(self.uri, self.collection, dimension, settings.milvus_token)
        self.added: list[int] = []
        self.removed: list[int] = []
        if self.new and base is not None:
            self._copy(base, db, settings)

    def _copy(self, base: Path, db: sqlite3.Connection, settings: Settings) -> None:
        """Fill the new collection from the base generation, vectors included."""
        if self.base_config is None:
            ids, vectors = dense_index.load(base).vectors()
        else:  # another Milvus: read the vectors back from it
            source = MilvusIndex(str(self.base_config["uri"]),
                                 str(self.base_config["collection"]), self.index.dimension,
                                 settings.milvus_token)
            ids, vectors = source.vectors()
        row_of = {int(i): k for k, i in enumerate(ids)}
        rows = db.execute(
            "SELECT c.id, c.article_id, a.source, a.date, a.title, c.text FROM chunks c"
            " JOIN articles a ON a.id = c.article_id ORDER BY c.id").fetchall()
        for start in range(0, len(rows), COPY_BATCH):
            batch = [r for r in rows[start:start + COPY_BATCH] if int(r[0]) in row_of]
            if not batch:
                continue
            self.add([int(r[0]) for r in batch],
                     [IndexedChunk(r[1], r[2], r[3], f"{r[4]}\n{r[5]}") for r in batch],
                     vectors[[row_of[int(r[0])] for r in batch]])

    def add(self, ids: list[int], chunks: list[IndexedChunk], vectors: np.ndarray) -> None:
        if not ids:
            return
        rows = [MilvusRow(c.article_id, c.source, c.date, c.text) for c in chunks]
        self.index.add(ids, rows, vectors)
        self.added += ids

    def remove(self, ids: list[int], texts: list[str]) -> None:
        self.removed += ids

    def publish(self, folder: Path) -> None:
        if self.removed:
            self.index.remove(self.removed)
        self.index.flush()
        (folder / SEARCH_FILE).write_text(json.dumps(
            {"backend": "milvus", "uri": self.uri, "collection": self.collection}))
        keep = {self.collection}
        if self.base_config is not None:
            keep.add(str(self.base_config.get("collection")))
        for name in self.index.collections(self.prefix):
            if name not in keep:  # a full build before the previous generation
                self.index.drop_collection(name)

    def abort(self) -> None:
        if self.new:
            self.index.drop()
        elif self.added:
            self.index.remove(self.added)
