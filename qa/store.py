"""The on-disk index: FAISS vectors, BM25, an SQLite metadata store and a manifest.

Each build writes a complete new generation folder (`gen-NNNNNN/`) and only then replaces the
small `CURRENT` pointer file with `os.replace`, which is atomic. A crash or Ctrl-C at any
point before that leaves the previous generation untouched and in use.
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
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa.bm25 import BM25Index
from qa.schema import Article, Chunk, SearchScope

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

    def __init__(self, folder: Path, manifest: Manifest, dense: faiss.Index, bm25: BM25Index):
        self.folder = folder
        self.manifest = manifest
        self.dense = dense
        self.bm25 = bm25
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


def open_index(index_dir: Path) -> IndexStore:
    """Load the live generation, or explain (missing / corrupt) and how to fix it."""
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
        dense = faiss.read_index(str(folder / "dense.faiss"))
        bm25 = BM25Index.load(folder / "bm25")
        db = sqlite3.connect(f"file:{folder / 'meta.sqlite'}?mode=ro", uri=True)
        try:
            (n_chunks,) = db.execute("SELECT COUNT(*) FROM chunks").fetchone()
        finally:
            db.close()
    except IndexMissingError:
        raise
    except Exception as exc:  # any unreadable part means the same thing to the user
        raise IndexMissingError(hint.format(f"{type(exc).__name__}: {exc}")) from exc
    if not (dense.ntotal == len(bm25) == n_chunks):
        raise IndexMissingError(
            hint.format(f"{dense.ntotal} vectors, {len(bm25)} BM25 rows, {n_chunks} chunks")
        )
    return IndexStore(folder, manifest, dense, bm25)


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
    """Writes the next generation next to the live one, then publishes it atomically."""

    def __init__(self, index_dir: Path, base: Path | None, dimension: int) -> None:
        self.index_dir = index_dir
        self.base = base
        number = _next_generation_number(index_dir)
        self.final = index_dir / f"gen-{number:06d}"
        self.tmp = index_dir / f".tmp-{self.final.name}-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        if base is not None:
            shutil.copy2(base / "meta.sqlite", self.tmp / "meta.sqlite")
            self.dense: faiss.Index = faiss.read_index(str(base / "dense.faiss"))
        else:
            self.dense = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.db = sqlite3.connect(self.tmp / "meta.sqlite")
        self.db.executescript(_SCHEMA)

    def remove_articles(self, article_ids: list[str]) -> None:
        for start in range(0, len(article_ids), 500):
            batch = article_ids[start:start + 500]
            marks = ",".join("?" * len(batch))
            ids = [r[0] for r in self.db.execute(
                f"SELECT id FROM chunks WHERE article_id IN ({marks})", batch)]
            if ids:
                self.dense.remove_ids(np.asarray(ids, dtype="int64"))  # type: ignore[arg-type]
            self.db.execute(f"DELETE FROM chunks WHERE article_id IN ({marks})", batch)
            self.db.execute(f"DELETE FROM articles WHERE id IN ({marks})", batch)

    def add_article(self, article: Article) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO articles VALUES (?,?,?,?,?,?,?,?,?)",
            (article.id, article.path, article.title, article.date, article.source, article.url,
             article.content_hash, article.text, article.date_origin),
        )

    def add_chunks(self, ids: list[int], chunks: list[Chunk], vectors: np.ndarray) -> None:
        self.db.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?)",
            [(i, c.article_id, c.ordinal, c.start, c.end, c.text)
             for i, c in zip(ids, chunks, strict=True)],
        )
        if len(ids):
            self.dense.add_with_ids(vectors, np.asarray(ids, dtype="int64"))

    def publish(self, manifest: Manifest) -> Path:
        """Finish every file, then swap CURRENT; returns the new generation folder."""
        self.db.commit()
        rows = self.db.execute(
            "SELECT c.id, a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id"
            " ORDER BY c.id"
        ).fetchall()
        self.db.close()
        BM25Index.build([r[0] for r in rows], [f"{r[1]}\n{r[2]}" for r in rows]).save(
            self.tmp / "bm25"
        )
        faiss.write_index(self.dense, str(self.tmp / "dense.faiss"))
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
