"""Build and update the index: scan folders, clean, chunk, embed, publish a new generation.

Incremental by file: a file whose size, mtime and sha256 match the manifest is not read
again; changed files are replaced, vanished ones dropped. A different embedding model or
chunker setting rebuilds everything, and the report says why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from qa.chunking import ChunkerConfig, chunk_article
from qa.cleaning import clean_article
from qa.dense_index import DenseParams
from qa.embedding import Embedder, passage_text
from qa.hashing import sha256_file
from qa.reading import JSONL_SUFFIXES, RawArticle, Skipped, read_path
from qa.schema import Article, Chunk
from qa.search_backend import SearchWriter, search_config
from qa.settings import Settings
from qa.store import (
    FileEntry,
    GenerationWriter,
    IndexMissingError,
    Manifest,
    build_lock,
    current_folder,
    load_manifest,
    open_index,
    write_manifest,
)

#: Bumped when sentence splitting, cleaning or what is stored per article changes (3: dates
#: read by qa.dating, with their origin); a bump rebuilds the index on the next run.
PIPELINE_VERSION = 3

#: progress(stage, done, total): stages are "scan", "embed", "write".
Progress = Callable[[str, int, int], None]


@dataclass
class IndexReport:
    """What a build did, for the CLI summary and the chat's upload panel.

    Counts are articles (what search and the "Index: N articles" line count), not files: one
    .jsonl holds many articles and a skipped file holds none. Skip lines name files relative
    to their indexed folder, so a report never shows the server's own paths.
    """

    articles_added: int = 0  # ids new to the index
    articles_updated: int = 0  # ids re-read from a changed file and embedded again
    articles_removed: int = 0  # ids gone: file deleted, changed or removed by the user
    articles_unchanged: int = 0  # ids kept as they were
    skipped: list[str] = field(default_factory=list)  # "name: reason", new or changed files
    skipped_files: list[str] = field(default_factory=list)  # their names, each once
    still_skipped: list[str] = field(default_factory=list)  # unchanged files skipped earlier
    added: list[str] = field(default_factory=list)  # file keys (absolute) for tools
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    files_unchanged: int = 0  # unchanged files with at least one article
    chunks_added: int = 0
    articles_total: int = 0
    chunks_total: int = 0
    rebuild_reason: str | None = None
    moved: str | None = None  # the rankings moved to another store (nothing re-embedded)
    published: bool = False  # a new generation went live
    timings: dict[str, float] = field(default_factory=dict)

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append(f"{name}: {reason}")
        if name not in self.skipped_files:
            self.skipped_files.append(name)

    def lines(self) -> list[str]:
        out = []
        if self.rebuild_reason:
            out.append(f"Full rebuild: {self.rebuild_reason}")
        if self.moved:
            out.append(f"Search moved {self.moved} (vectors copied, nothing embedded again)")
        out.append(
            f"{_count(self.articles_added, 'article')} added, {self.articles_updated} updated, "
            f"{self.articles_removed} removed, {self.articles_unchanged} unchanged; "
            f"{_count(len(self.skipped_files), 'file')} skipped; "
            f"{_count(self.chunks_added, 'chunk')} embedded"
        )
        out += [f"  skipped {line}" for line in self.skipped]
        if self.still_skipped:  # said in full when new; a user should still see they are there
            shown = ", ".join(self.still_skipped[:_NAMES_SHOWN])
            more = len(self.still_skipped) - _NAMES_SHOWN
            out.append(f"  skipped earlier and unchanged: {shown}"
                       + (f" and {more} more" if more > 0 else ""))
        if not self.published:
            out.append("Index is up to date; no articles changed.")
        out.append(
            f"Index: {self.articles_total} articles, {self.chunks_total} chunks "
            f"({self.timings.get('total_s', 0.0):.1f} s)"
        )
        return out


_NAMES_SHOWN = 10


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class PathNames:
    """Names for files relative to their indexed root, for anything a person reads.

    The manifest keys files by absolute path; reports and the chat show `a.txt` or
    `sub/a.txt` instead, also inside reasons ("duplicate of a.txt (same text)").
    """

    def __init__(self, roots: Iterable[str | Path]) -> None:
        stripped = (str(r).rstrip(os.sep) for r in roots)
        self._roots = sorted((r for r in stripped if r), key=len, reverse=True)  # not "/"

    def name(self, key: str) -> str:
        for root in self._roots:
            if key.startswith(root + os.sep):
                return key[len(root) + 1:]
        return Path(key).name  # a root that is one file, or a path outside every root

    def text(self, text: str) -> str:
        for root in self._roots:
            text = text.replace(root + os.sep, "")
            text = re.sub(re.escape(root) + r"(?=$|[\s:),])", Path(root).name, text)
        return text


def chunker_config(settings: Settings) -> dict[str, object]:
    return {
        "max_tokens": settings.chunk_tokens,
        "overlap_sentences": settings.chunk_overlap_sentences,
        "pipeline": PIPELINE_VERSION,
    }


def build_index(
    settings: Settings,
    folders: Iterable[Path] = (),
    *,
    rebuild: bool = False,
    remove_ids: Iterable[str] = (),
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> IndexReport:
    """Bring the index in `settings.index_dir` up to date with `folders` (+ known roots)."""
    started = time.perf_counter()
    report = IndexReport()
    with build_lock(settings.index_dir):
        old = load_manifest(settings.index_dir)
        reason = _rebuild_reason(settings, old, rebuild)
        if reason:
            report.rebuild_reason = reason
        base = None if reason or old is None else current_folder(settings.index_dir)
        previous = None if base is None else old
        roots = _roots(settings, folders, old)
        names = PathNames(roots)
        excluded = set(remove_ids) | set(previous.excluded if previous else [])
        scan = _scan(roots, previous, _existing_hashes(settings, base), excluded, settings,
                     names, report, progress)
        t_scan = time.perf_counter()
        removed_ids = set(scan.removed_ids) | {
            a for a in excluded if previous and _known_article(previous, a)
        }
        files = _drop_excluded(scan.files, excluded)
        articles = [a for a in scan.new_articles if a.id not in excluded]
        _count_articles(report, old, files, articles)
        report.moved = _store_move(settings, base)
        if (base is not None and previous is not None and not articles and not removed_ids
                and not report.moved):
            # No article changed, but what the scan learned must stay learned: skipped files
            # and new mtimes are recorded, so a skipped file is not read (and reported as new)
            # again on every run. The live generation keeps its vectors; only its manifest.
            scanned = dataclasses.replace(previous, roots=[str(r) for r in roots], files=files)
            if scanned != previous:
                write_manifest(base, scanned)
            report.timings = {"scan_s": t_scan - started, "total_s": time.perf_counter() - started}
            store = open_index(settings.index_dir, settings)
            report.articles_total, report.chunks_total = store.counts()
            return report

        embedder = embedder or Embedder(settings)
        config = ChunkerConfig(settings.chunk_tokens, settings.chunk_overlap_sentences)
        chunks: list[Chunk] = []
        for article in articles:
            chunks += chunk_article(
                article.id, article.title, article.text, embedder.count_tokens, config
            )
        t_chunk = time.perf_counter()
        titles = {a.id: a.title for a in articles}
        texts = [passage_text(titles[c.article_id], c.text) for c in chunks]
        if texts:
            with embedder.using_threads(settings.index_threads):
                vectors = _embed(embedder, texts, progress)
        else:  # only removals: no need to load the model
            vectors = np.zeros((0, embedder.dimension), dtype="float32")
        t_embed = time.perf_counter()

        manifest = Manifest(
            embed_model=settings.embed_model,
            dimension=embedder.dimension,
            query_prefix=settings.query_prefix_used,
            passage_prefix=settings.passage_prefix_used,
            chunker=chunker_config(settings),
            roots=[str(r) for r in roots],
            files=files,
            next_chunk_id=(previous.next_chunk_id if previous else 0) + len(chunks),
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            excluded=sorted(excluded),
        )
        first_id = previous.next_chunk_id if previous else 0
        writer = GenerationWriter(settings.index_dir, base, embedder.dimension,
                                  DenseParams.from_settings(settings), _search_writer(settings))
        try:
            if progress:
                progress("write", 0, 1)
            writer.remove_articles(sorted(removed_ids) + [a.id for a in articles])
            for article in articles:
                writer.add_article(article)
            writer.add_chunks(list(range(first_id, first_id + len(chunks))), chunks, vectors)
            writer.publish(manifest)
            if progress:
                progress("write", 1, 1)
        except BaseException:  # KeyboardInterrupt included: the live index stays as it was
            writer.abort()
            raise
        report.published = True
        report.chunks_added = len(chunks)
        store = open_index(settings.index_dir, settings)
        report.articles_total, report.chunks_total = store.counts()
        report.timings = {
            "scan_s": t_scan - started,
            "chunk_s": t_chunk - t_scan,
            "embed_s": t_embed - t_chunk,
            "write_s": time.perf_counter() - t_embed,
            "total_s": time.perf_counter() - started,
        }
    return report


def _store_move(settings: Settings, base: Path | None) -> str | None:
    """Where the rankings move when `QA_STORE` (or the Milvus URI) no longer names where the
    live generation keeps them; None when they stay."""
    if base is None:
        return None
    config = search_config(base)
    if settings.store == "local":
        return None  # from Milvus back to local files is a rebuild (see _rebuild_reason)
    from qa.milvus_backend import milvus_uri

    uri = milvus_uri(settings)
    if config is None:
        return f"from local files to Milvus ({uri})"
    return None if config.get("uri") == uri else f"from Milvus ({config.get('uri')}) to {uri}"


def _search_writer(settings: Settings) -> Callable[[GenerationWriter], SearchWriter] | None:
    """How the next generation keeps its rankings (None: FAISS + BM25 files, the default)."""
    if settings.store == "local":
        return None
    from qa.milvus_backend import MilvusSearchWriter

    return lambda w: MilvusSearchWriter(settings, w.index_dir, w.base, w.final, w.dimension,
                                        w.db)


def _drop_excluded(files: dict[str, FileEntry], excluded: set[str]) -> dict[str, FileEntry]:
    """Entries without the articles the user removed, each noted as a reason instead.

    Otherwise an unchanged file would still list a removed article, and every later run would
    find it "known" and publish a generation to remove it again.
    """
    out = {}
    for key, entry in files.items():
        gone = [a for a in entry.articles if a in excluded]
        if gone:
            entry = dataclasses.replace(
                entry, articles=[a for a in entry.articles if a not in excluded],
                skipped=entry.skipped + [f"article {a} {USER_REMOVED}" for a in gone],
            )
        out[key] = entry
    return out


def _count_articles(
    report: IndexReport, old: Manifest | None, files: dict[str, FileEntry],
    articles: list[Article],
) -> None:
    """Article counts by id: the live index before (the old manifest) against after."""
    before = {a for e in (old.files.values() if old else ()) for a in e.articles}
    after = {a for e in files.values() for a in e.articles}
    embedded = {a.id for a in articles}
    report.articles_added = len(embedded - before)
    report.articles_updated = len(embedded & before)
    report.articles_removed = len(before - after)
    report.articles_unchanged = len(after - embedded)


def _rebuild_reason(settings: Settings, old: Manifest | None, rebuild: bool) -> str | None:
    if rebuild:
        return "requested with --rebuild"
    if old is None:
        if current_folder(settings.index_dir) is not None:
            return "the existing index is unreadable"
        return None
    try:
        open_index(settings.index_dir, settings)
    except IndexMissingError as exc:
        return f"the existing index is damaged ({exc})"
    live = current_folder(settings.index_dir)
    if settings.store == "local" and live is not None and search_config(live) is not None:
        return "QA_STORE is local, the index is in Milvus: its vectors are embedded again here"
    if old.embed_model != settings.embed_model:
        return f"embedding model changed from {old.embed_model} to {settings.embed_model}"
    prefixes = (settings.query_prefix_used, settings.passage_prefix_used)
    if (old.query_prefix, old.passage_prefix) != prefixes:
        old_prefixes = (old.query_prefix, old.passage_prefix)
        return f"embedding prefixes changed from {old_prefixes} to {prefixes}"
    if old.chunker != chunker_config(settings):
        return f"chunker settings changed from {old.chunker} to {chunker_config(settings)}"
    return None


def _roots(settings: Settings, folders: Iterable[Path], old: Manifest | None) -> list[Path]:
    roots = [Path(r) for r in (old.roots if old else [])]
    asked = [Path(f).expanduser().resolve() for f in folders]
    if not roots and not asked:
        asked = [settings.articles_dir.expanduser().resolve()]
    for folder in asked:
        if not folder.exists():
            raise FileNotFoundError(f"No such file or folder: {folder}")
        if folder not in roots:
            roots.append(folder)
    return roots


@dataclass
class _Scan:
    files: dict[str, FileEntry]
    new_articles: list[Article]
    removed_ids: list[str]


def _existing_hashes(settings: Settings, base: Path | None) -> dict[str, str]:
    """content hash -> file path of every article already in the live index."""
    if base is None:
        return {}
    store = open_index(settings.index_dir, settings)
    return {h: p for h, p in store.db.execute("SELECT content_hash, path FROM articles")}


def _scan(
    roots: list[Path],
    previous: Manifest | None,
    existing: dict[str, str],
    excluded: set[str],
    settings: Settings,
    names: PathNames,
    report: IndexReport,
    progress: Progress | None,
) -> _Scan:
    """Decide per file: unchanged (kept), new/changed (parsed), or gone (dropped)."""
    old_files = previous.files if previous else {}
    files: dict[str, FileEntry] = {}
    new_articles: list[Article] = []
    paths = [p for root in roots for p in _files_under(root)]
    max_bytes = int(settings.max_file_mb * 1e6)

    # Pass 1 (stat, and hash only where the file will be read anyway): what is unchanged.
    to_read: list[tuple[Path, FileEntry | None, str, os.stat_result]] = []
    for path in paths:
        key = str(path)
        old_entry = old_files.get(key)
        try:
            stat = path.stat()
            if old_entry and (old_entry.size, old_entry.mtime_ns) == (
                stat.st_size, stat.st_mtime_ns
            ):
                files[key] = old_entry
                continue
            read_whole = stat.st_size <= max_bytes or path.suffix.lower() in JSONL_SUFFIXES
            digest = sha256_file(path) if read_whole else f"size:{stat.st_size}"
        except OSError as exc:  # not recorded: tried (and reported) again next run
            report.skip(names.name(key), f"cannot read: {exc.strerror or exc}")
            continue
        if old_entry and old_entry.sha256 == digest:
            files[key] = FileEntry(digest, stat.st_size, stat.st_mtime_ns, old_entry.articles,
                                   old_entry.skipped)
            continue
        to_read.append((path, old_entry, digest, stat))
    # A copy skipped as a duplicate is read again once the file it duplicated changed or went.
    for key, entry in list(files.items()):
        firsts = [re.sub(r":\d+$", "", m.group(1))  # "file.jsonl:3" names a line of a file
                  for r in entry.skipped if (m := _DUPLICATE_OF.match(r))]
        if any(f not in files for f in firsts):
            del files[key]
            path = Path(key)
            with contextlib.suppress(OSError):
                to_read.append((path, old_files[key], sha256_file(path), path.stat()))
    for key, entry in files.items():
        report.files_unchanged += bool(entry.articles)
        if any(not r.endswith(USER_REMOVED) for r in entry.skipped):
            report.still_skipped.append(names.name(key))
    order = {path: n for n, path in enumerate(paths)}
    to_read.sort(key=lambda item: order[item[0]])

    # content hash -> path, so the same text is indexed once (first indexed wins)
    seen_hashes = {h: p for h, p in existing.items() if p in files}
    # Pass 2: read, clean and check what is new or changed.
    for done, (path, old_entry, digest, stat) in enumerate(to_read, start=1):
        if progress:
            progress("scan", done, len(to_read))
        key = str(path)
        entry = FileEntry(digest, stat.st_size, stat.st_mtime_ns)
        for item in _read_articles(path, key, max_bytes):
            article = item.article
            if article is None:
                entry.skipped.append(item.reason)
                report.skip(names.name(key), names.text(item.reason))
                continue
            if article.id in excluded:
                entry.skipped.append(f"article {article.id} {USER_REMOVED}")
                continue
            first = seen_hashes.get(article.content_hash)
            if first is not None:  # also two equal lines of one .jsonl
                reason = f"duplicate of {first} (same text), indexed once"
                if item.line:
                    reason = f"line {item.line}: {reason}"
                entry.skipped.append(reason)
                report.skip(names.name(key), names.text(reason))
                continue
            seen_hashes[article.content_hash] = key + (f":{item.line}" if item.line else "")
            entry.articles.append(article.id)
            new_articles.append(article)
        files[key] = entry
        if entry.articles:  # a file whose every item was skipped is reported as skipped only
            (report.updated if old_entry else report.added).append(key)

    removed_ids = [a for k, e in old_files.items() if k not in files for a in e.articles]
    report.removed += [k for k in old_files if k not in files]
    # a re-read file's old articles go (its new ones replace them); a merely touched one keeps
    removed_ids += [a for _, old_entry, _, _ in to_read if old_entry for a in old_entry.articles]
    return _Scan(files, new_articles, removed_ids)


#: The reason noted for an article `remove_ids` took out; a choice, not a problem to report.
USER_REMOVED = "was removed by the user"


@dataclass(frozen=True)
class FileItem:
    """One item of a file: an article, or the one-line reason it was skipped."""

    article: Article | None
    reason: str = ""
    line: str = ""  # jsonl line number, "" for single-article files


def _read_articles(path: Path, key: str, max_bytes: int) -> list[FileItem]:
    try:
        items = list(read_path(path, max_bytes))
    except Exception as exc:  # one unreadable file never stops the run
        message = " ".join(str(exc).split())  # the report has one line per file
        items = [Skipped(path, f"cannot read ({type(exc).__name__}: {message})")]
    out = []
    for item in items:
        article = _to_article(item, key) if isinstance(item, RawArticle) else item
        line = item.key[1:]
        if isinstance(article, Skipped):
            reason = f"line {line}: {article.reason}" if line else article.reason
            out.append(FileItem(None, reason, line))
        else:
            out.append(FileItem(article, line=line))
    return out


def check_file(path: Path, settings: Settings, key: str | None = None) -> list[FileItem]:
    """What indexing would make of one file (articles with content hashes, skip reasons).

    Lets an upload be refused before it is copied into the index's folder. `key` is the path
    the file will be indexed under (it decides the article ids).
    """
    return _read_articles(path, key or str(path), int(settings.max_file_mb * 1e6))


_DUPLICATE_OF = re.compile(r"^(?:line \d+: )?duplicate of (.+) \(same text\), indexed once$")


def _files_under(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.exists():
        return []
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _to_article(raw: RawArticle, path_key: str) -> Article | Skipped:
    cleaned = clean_article(raw.text, raw.title, raw.date, raw.source)
    if not cleaned.text.strip():
        return Skipped(raw.path, "no article text left after cleaning", raw.key)
    article_id = hashlib.sha1(path_key.encode()).hexdigest()[:12] + (
        f"-{raw.key}" if raw.key else ""
    )
    content_hash = hashlib.sha256(f"{cleaned.title}\n{cleaned.text}".encode()).hexdigest()
    return Article(
        id=article_id, path=path_key, title=cleaned.title, text=cleaned.text, date=cleaned.date,
        date_origin=cleaned.date_origin, source=cleaned.source, url=raw.url,
        content_hash=content_hash,
    )


def _known_article(manifest: Manifest, article_id: str) -> bool:
    return any(article_id in e.articles for e in manifest.files.values())


def _embed(embedder: Embedder, texts: list[str], progress: Progress | None) -> np.ndarray:
    """Encode in blocks so progress can be reported between them."""
    block = max(embedder.batch_size * 4, 256)
    parts = []
    for start in range(0, len(texts), block):
        if progress:
            progress("embed", start, len(texts))
        parts.append(embedder.encode_passages(texts[start:start + block]))
    if progress:
        progress("embed", len(texts), len(texts))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dimension), dtype="float32")
