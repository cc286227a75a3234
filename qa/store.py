"""The on-disk index: an SQLite metadata store, the rankings and a manifest per generation.

Each build writes a complete new generation folder (`gen-NNNNNN/`) and only then replaces the
small `CURRENT` pointer file with `os.replace`, which is atomic. A crash or Ctrl-C at any
point before that leaves the previous generation untouched and in use. Unchanged ranking files
(vectors, BM25 segments) are hard-linked from the previous generation, not copied. The rankings
are FAISS + BM25 files in the folder or a Milvus collection (`qa.search_backend`).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa import dense_index
from qa.bm25 import chunk_text
from qa.dense_index import DenseParams
from qa.schema import Article, Chunk, Filters, SearchScope
from qa.search_backend import (
    CHUNK_ROWS_SQL,
    IndexedChunk,
    LocalSearch,
    LocalSearchWriter,
    SearchBackend,
    SearchWriter,
    load_bm25,
    search_config,
)
from qa.settings import Settings

FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, path TEXT NOT NULL, title TEXT NOT NULL, date TEXT, source TEXT,
    url TEXT, content_hash TEXT NOT NULL, text TEXT NOT NULL, date_origin TEXT);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE INDEX IF NOT EXISTS articles_hash ON articles(content_hash);
CREATE INDEX IF NOT EXISTS articles_date ON articles(date);
"""


class IndexMissingError(RuntimeError):
    """No usable index; the message tells the user to run `qa index`."""


@dataclass
class FileEntry:
    sha256: str
    size: int
    mtime_ns: int
    articles: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # reasons, shown again on re-runs


@dataclass
class Manifest:
    """What the index was built with; a mismatch in model or chunker forces a full rebuild."""

    embed_model: str
    dimension: int
    query_prefix: str
    passage_prefix: str
    chunker: dict[str, Any]
    roots: list[str] = field(default_factory=list)
    files: dict[str, FileEntry] = field(default_factory=dict)
    next_chunk_id: int = 0
    built_at: str = ""
    excluded: list[str] = field(default_factory=list)  # article ids the user removed
    version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)
        raw["files"] = {k: FileEntry(**v) for k, v in raw.get("files", {}).items()}
        return cls(**raw)


@dataclass(frozen=True)
class ChunkRow:
    """A chunk joined with its article's metadata (what a search hit is made of)."""

    chunk_id: int
    article_id: str
    ordinal: int
    start: int
    end: int
    text: str
    title: str
    date: str | None
    source: str | None
    path: str
    date_origin: str | None = None


class IndexStore:
    """A loaded, read-only generation. Safe to share between threads."""

    def __init__(self, folder: Path, manifest: Manifest) -> None:
        self.folder = folder
        self.manifest = manifest
        self.search: SearchBackend  # set by open_index: local files or Milvus
        self._local = threading.local()

    @property
    def db(self) -> sqlite3.Connection:
        """One read-only connection per thread (sqlite connections are not thread-safe)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            uri = f"file:{self.folder / 'meta.sqlite'}?mode=ro&immutable=1"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._local.conn = conn
        return conn

    @functools.cached_property
    def _origin(self) -> str:
        """The date-origin column, or NULL in a generation built before it existed."""
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(articles)")}
        return "a.date_origin" if "date_origin" in columns else "NULL"

    def chunk_rows(self, chunk_ids: list[int]) -> dict[int, ChunkRow]:
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self.db.execute(
            "SELECT c.id, c.article_id, c.ordinal, c.start, c.end, c.text, a.title, a.date,"
            f" a.source, a.path, {self._origin} FROM chunks c JOIN articles a"
            " ON a.id = c.article_id"
            f" WHERE c.id IN ({marks})",
            chunk_ids,
        ).fetchall()
        return {r[0]: ChunkRow(*r) for r in rows}

    def article(self, article_id: str) -> Article | None:
        row = self.db.execute(
            "SELECT id, path, title, text, date, source, url, content_hash,"
            f" {self._origin} FROM articles a WHERE id = ?",
            (article_id,),
        ).fetchone()
        return Article(*row) if row else None

    def articles(self) -> list[dict[str, Any]]:
        """Article list for overviews: metadata and chunk counts, no text."""
        rows = self.db.execute(
            f"SELECT a.id, a.title, a.date, {self._origin}, a.source, a.path, COUNT(c.id)"
            " FROM articles a LEFT JOIN chunks c ON c.article_id = a.id GROUP BY a.id"
            " ORDER BY a.date, a.title"
        ).fetchall()
        keys = ("id", "title", "date", "date_origin", "source", "path", "chunks")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def chunk_ids_where(
        self, source: str | None = None, date_from: str | None = None,
        date_to: str | None = None, include_undated: bool = False,
    ) -> set[int]:
        """Chunk ids of articles matching the filters (for filtered search)."""
        where, args = _filter_sql(source, date_from, date_to, include_undated)
        sql = f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {where}"
        return {r[0] for r in self.db.execute(sql, args)}

    def allowed(self, where: Filters) -> set[int]:
        """Chunk ids a filtered local search may return."""
        return self.chunk_ids_where(where.source, where.date_from, where.date_to,
                                    where.include_undated)

    def any_article(self, where: Filters) -> bool:
        """Whether any article passes the filter (else a search need not run)."""
        sql, args = _filter_sql(where.source, where.date_from, where.date_to,
                                where.include_undated)
        return self.db.execute(f"SELECT 1 FROM articles a WHERE {sql} LIMIT 1", args
                               ).fetchone() is not None

    def scope(
        self, source: str | None = None, date_from: str | None = None,
        date_to: str | None = None, include_undated: bool = False,
    ) -> SearchScope:
        """How many articles the filters search, and how many undated ones they leave out."""
        total = int(self.db.execute("SELECT COUNT(*) FROM articles").fetchone()[0])
        where, args = _filter_sql(source, date_from, date_to, include_undated)
        searched = int(self.db.execute(
            f"SELECT COUNT(*) FROM articles a WHERE {where}", args).fetchone()[0])
        left_out = 0
        if (date_from or date_to) and not include_undated:
            where, args = _filter_sql(source, None, None, False)
            left_out = int(self.db.execute(
                f"SELECT COUNT(*) FROM articles a WHERE {where} AND a.date IS NULL", args
            ).fetchone()[0])
        return SearchScope(total, searched, left_out, source, date_from, date_to,
                           include_undated)

    def sources(self) -> list[str]:
        rows = self.db.execute("SELECT DISTINCT source FROM articles WHERE source IS NOT NULL")
        names = {part for (s,) in rows for part in s.split("/")}
        return sorted(names, key=str.lower)

    def newest_date(self) -> str | None:
        """The newest article date (a day or a month), for reading years into questions."""
        row = self.db.execute("SELECT MAX(date) FROM articles WHERE date != ''").fetchone()
        return row[0] if row else None

    def counts(self) -> tuple[int, int]:
        articles = self.db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        chunks = self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(articles), int(chunks)


def _filter_sql(
    source: str | None, date_from: str | None, date_to: str | None, include_undated: bool
) -> tuple[str, list[str]]:
    """The WHERE clause (over `articles a`) for the search filters, and its arguments."""
    clauses, args = ["1=1"], []
    if source:
        # one of the "/"-separated names ("AFP/dpa"), whole: "AP" must not match "APA"
        clauses.append("'/' || lower(a.source) || '/' LIKE ?")
        args.append(f"%/{source.strip().lower()}/%")
    # Dates are ISO prefixes and a range matches what it overlaps: "2021-12" sorts before
    # "2021-12-08", so padding with U+FFFF makes a month include its days, on either side.
    dated = []
    if date_from:
        dated.append("a.date || ? >= ?")
        args += ["\uffff", date_from]
    if date_to:
        dated.append("a.date <= ?")
        args.append(date_to + "\uffff")
    if dated:
        in_range = " AND ".join(["a.date IS NOT NULL", *dated])
        clauses.append(f"(a.date IS NULL OR ({in_range}))" if include_undated else
                       f"({in_range})")
    return " AND ".join(clauses), args


def current_folder(index_dir: Path) -> Path | None:
    pointer = index_dir / "CURRENT"
    if not pointer.exists():
        return None
    name = pointer.read_text().strip()
    return index_dir / name if name else None


def load_manifest(index_dir: Path) -> Manifest | None:
    """The live manifest, or None when there is no readable index."""
    folder = current_folder(index_dir)
    if folder is None:
        return None
    try:
        return Manifest.from_json((folder / "manifest.json").read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None


def open_index(index_dir: Path, settings: Settings | None = None) -> IndexStore:
    """Load the live generation, or explain (missing / corrupt) and how to fix it.

    `settings` give the search its IVF probes and the Milvus credentials (default: from the
    environment, as everywhere).
    """
    settings = settings or Settings()
    folder = current_folder(index_dir)
    if folder is None:
        raise IndexMissingError(f"No index in {index_dir}/. Build it with: qa index")
    hint = f"The index in {index_dir}/ is damaged ({{}}). Rebuild it with: qa index --rebuild"
    try:
        manifest = Manifest.from_json((folder / "manifest.json").read_text())
        if manifest.version != FORMAT_VERSION:
            raise IndexMissingError(
                hint.format(f"format {manifest.version}, need {FORMAT_VERSION}")
            )
        store = IndexStore(folder, manifest)
        (n_chunks,) = store.db.execute("SELECT COUNT(*) FROM chunks").fetchone()
        remote = search_config(folder)
        if remote is None:
            dense = dense_index.load(folder)
            lexical = load_bm25(folder, store.db)
            if not dense.ntotal == len(lexical) == n_chunks:
                raise IndexMissingError(hint.format(
                    f"{dense.ntotal} vectors, {len(lexical)} BM25 rows, {n_chunks} chunks"))
            store.search = LocalSearch(dense, lexical, store.allowed, settings.ann_nprobe)
        else:
            from qa.milvus_backend import open_search

            store.search = open_search(remote, manifest.dimension, settings.milvus_token,
                                       settings.milvus_ef)
            # Only an empty collection is certainly wrong: while the next generation is
            # written it holds more chunks, just after, fewer (hits SQLite lacks are skipped).
            if n_chunks and store.search.count() == 0:
                raise IndexMissingError(hint.format(
                    f"Milvus collection {remote.get('collection')} is empty"))
    except IndexMissingError:
        raise
    except Exception as exc:  # any unreadable part means the same thing to the user
        raise IndexMissingError(hint.format(f"{type(exc).__name__}: {exc}")) from exc
    return store


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Replace a generation's manifest in place, atomically (temp file, then `os.replace`).

    For what a scan learned without changing any article (skipped files, new mtimes): the
    vectors and rows stay the same, so a new generation would only cost a copy.
    """
    tmp = folder / f".manifest-{os.getpid()}-{threading.get_ident()}.json"
    try:
        tmp.write_text(manifest.to_json())
        _fsync_file(tmp)
        os.replace(tmp, folder / "manifest.json")
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_file(folder)


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Only one build at a time per index folder (a second `qa index` waits)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class GenerationWriter:
    """Writes the next generation next to the live one, then publishes it atomically.

    The vectors are exact or IVF as `params` say for the published size (`qa.dense_index`);
    the switch, or a retrained quantiser, happens in `publish`, inside the new generation.
    """

    def __init__(
        self, index_dir: Path, base: Path | None, dimension: int,
        params: DenseParams | None = None,
        search: Callable[[GenerationWriter], SearchWriter] | None = None,
    ) -> None:
        self.index_dir = index_dir
        self.base = base
        self.dimension = dimension
        self.params = params or DenseParams()
        number = _next_generation_number(index_dir)
        self.final = index_dir / f"gen-{number:06d}"
        self.tmp = index_dir / f".tmp-{self.final.name}-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        if base is not None:
            shutil.copy2(base / "meta.sqlite", self.tmp / "meta.sqlite")
        self.db = sqlite3.connect(self.tmp / "meta.sqlite")
        self.db.executescript(_SCHEMA)
        self.search: SearchWriter = (search or _local_search)(self)
        self._articles: dict[str, tuple[str, str | None, str | None]] = {}

    def remove_articles(self, article_ids: list[str]) -> None:
        for start in range(0, len(article_ids), 500):
            batch = article_ids[start:start + 500]
            marks = ",".join("?" * len(batch))
            rows = self.db.execute(f"{CHUNK_ROWS_SQL} WHERE c.article_id IN ({marks})",
                                   batch).fetchall()
            self.search.remove([r[0] for r in rows], [chunk_text(r[1], r[2]) for r in rows])
            self.db.execute(f"DELETE FROM chunks WHERE article_id IN ({marks})", batch)
            self.db.execute(f"DELETE FROM articles WHERE id IN ({marks})", batch)

    def add_article(self, article: Article) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO articles VALUES (?,?,?,?,?,?,?,?,?)",
            (article.id, article.path, article.title, article.date, article.source, article.url,
             article.content_hash, article.text, article.date_origin),
        )
        self._articles[article.id] = (article.title, article.source, article.date)

    def add_chunks(self, ids: list[int], chunks: list[Chunk], vectors: np.ndarray) -> None:
        self.db.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?)",
            [(i, c.article_id, c.ordinal, c.start, c.end, c.text)
             for i, c in zip(ids, chunks, strict=True)],
        )
        entries = []
        for c in chunks:
            title, source, date = self._article(c.article_id)
            entries.append(IndexedChunk(c.article_id, source, date, chunk_text(title, c.text)))
        self.search.add(ids, entries, vectors)

    def _article(self, article_id: str) -> tuple[str, str | None, str | None]:
        if article_id not in self._articles:
            row = self.db.execute("SELECT title, source, date FROM articles WHERE id = ?",
                                  (article_id,)).fetchone()
            self._articles[article_id] = tuple(row) if row else ("", None, None)
        return self._articles[article_id]

    def publish(self, manifest: Manifest) -> Path:
        """Finish every file, then swap CURRENT; returns the new generation folder."""
        self.db.commit()
        self.db.close()
        self.search.publish(self.tmp)
        (self.tmp / "manifest.json").write_text(manifest.to_json())
        _fsync_tree(self.tmp)
        os.replace(self.tmp, self.final)
        pointer_tmp = self.index_dir / f".CURRENT-{os.getpid()}"
        pointer_tmp.write_text(self.final.name + "\n")
        _fsync_file(pointer_tmp)
        os.replace(pointer_tmp, self.index_dir / "CURRENT")
        _fsync_file(self.index_dir)
        self._prune()
        return self.final

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()
        self.search.abort()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _prune(self) -> None:
        """Keep the new and the previous generation (a running chat may still read it)."""
        keep = {self.final.name, self.base.name if self.base else ""}
        for entry in self.index_dir.iterdir():
            if (entry.name.startswith("gen-") and entry.name not in keep) or (
                entry.name.startswith(".tmp-") and entry != self.tmp
            ):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(".CURRENT-"):  # pointer left by a build killed mid-swap
                entry.unlink(missing_ok=True)


def _local_search(writer: GenerationWriter) -> SearchWriter:
    return LocalSearchWriter(writer.base, writer.dimension, writer.params, writer.db)


def _next_generation_number(index_dir: Path) -> int:
    numbers = [
        int(p.name.split("-")[-1]) for p in index_dir.glob("gen-*") if p.name[4:].isdigit()
    ]
    return max(numbers, default=0) + 1


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            _fsync_file(path)
    _fsync_file(folder)
