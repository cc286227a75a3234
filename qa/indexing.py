"""Build and update the index: scan folders, clean, chunk, embed, publish a new generation.

Incremental by file: a file whose size, mtime and sha256 match the manifest is not read
again; changed files are replaced, vanished ones dropped. A different embedding model or
chunker setting rebuilds everything, and the report says why.
"""

from __future__ import annotations

import contextlib
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
from qa.embedding import Embedder, passage_text
from qa.hashing import sha256_file
from qa.reading import JSONL_SUFFIXES, RawArticle, Skipped, read_path
from qa.schema import Article, Chunk
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
)

#: Bumped when sentence splitting, cleaning or what is stored per article changes (3: dates
#: read by qa.dating, with their origin); a bump rebuilds the index on the next run.
PIPELINE_VERSION = 3

#: progress(stage, done, total): stages are "scan", "embed", "write".
Progress = Callable[[str, int, int], None]


@dataclass
class IndexReport:
    """What a build did, for the CLI summary and the chat's upload panel."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)  # "path: reason" lines
    skipped_files: list[str] = field(default_factory=list)  # each file once
    articles_added: int = 0
    chunks_added: int = 0
    articles_total: int = 0
    chunks_total: int = 0
    rebuild_reason: str | None = None
    published: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def skip(self, key: str, reason: str) -> None:
        self.skipped.append(f"{key}: {reason}")
        if key not in self.skipped_files:
            self.skipped_files.append(key)

    def lines(self) -> list[str]:
        out = []
        if self.rebuild_reason:
            out.append(f"Full rebuild: {self.rebuild_reason}")
        skipped_files = len(self.skipped_files)
        out.append(
            f"Files: {len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.removed)} removed, {self.unchanged} unchanged, "
            f"{len(self.skipped)} skipped" + (
                f" (in {skipped_files} files)" if skipped_files != len(self.skipped) else ""
            ) + f"; {self.articles_added} articles and {self.chunks_added} chunks embedded"
        )
        out += [f"  skipped {line}" for line in self.skipped]
        if not self.published:
            out.append("Index is up to date; nothing written.")
        out.append(
            f"Index: {self.articles_total} articles, {self.chunks_total} chunks "
            f"({self.timings.get('total_s', 0.0):.1f} s)"
        )
        return out


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
        excluded = set(remove_ids)

        excluded |= set(previous.excluded if previous else [])
        scan = _scan(roots, previous, _existing_hashes(settings, base), excluded, settings,
                     report, progress)
        t_scan = time.perf_counter()
        removed_ids = list(scan.removed_ids) + [
            a for a in excluded if previous and _known_article(previous, a)
        ]
        if base is not None and not scan.new_articles and not removed_ids:
            report.timings = {"scan_s": t_scan - started, "total_s": time.perf_counter() - started}
            store = open_index(settings.index_dir)
            report.articles_total, report.chunks_total = store.counts()
            return report

        embedder = embedder or Embedder(settings)
        config = ChunkerConfig(settings.chunk_tokens, settings.chunk_overlap_sentences)
        articles = [a for a in scan.new_articles if a.id not in excluded]
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
            files=scan.files,
            next_chunk_id=(previous.next_chunk_id if previous else 0) + len(chunks),
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            excluded=sorted(excluded),
        )
        first_id = previous.next_chunk_id if previous else 0
        writer = GenerationWriter(settings.index_dir, base, embedder.dimension)
        try:
            if progress:
                progress("write", 0, 1)
            writer.remove_articles(removed_ids + [a.id for a in articles])
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
        store = open_index(settings.index_dir)
        report.articles_total, report.chunks_total = store.counts()
        report.timings = {
            "scan_s": t_scan - started,
            "chunk_s": t_chunk - t_scan,
            "embed_s": t_embed - t_chunk,
            "write_s": time.perf_counter() - t_embed,
            "total_s": time.perf_counter() - started,
        }
    return report


def _rebuild_reason(settings: Settings, old: Manifest | None, rebuild: bool) -> str | None:
    if rebuild:
        return "requested with --rebuild"
    if old is None:
        if current_folder(settings.index_dir) is not None:
            return "the existing index is unreadable"
        return None
    try:
        open_index(settings.index_dir)
    except IndexMissingError as exc:
        return f"the existing index is damaged ({exc})"
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
    store = open_index(settings.index_dir)
    return {h: p for h, p in store.db.execute("SELECT content_hash, path FROM articles")}


def _scan(
    roots: list[Path],
    previous: Manifest | None,
    existing: dict[str, str],
    excluded: set[str],
    settings: Settings,
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
        except OSError as exc:
            report.skip(key, f"cannot read: {exc.strerror or exc}")
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
        report.unchanged += bool(entry.articles)
        for reason in entry.skipped:
            report.skip(key, reason)
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
        try:
            items = list(read_path(path, max_bytes))
        except Exception as exc:  # one unreadable file never stops the run
            message = " ".join(str(exc).split())  # the report has one line per file
            items = [Skipped(path, f"cannot read ({type(exc).__name__}: {message})")]
        for item in items:
            article = _to_article(item, key) if isinstance(item, RawArticle) else item
            if isinstance(article, Skipped):
                reason = (article.reason if not article.key
                          else f"line {article.key[1:]}: {article.reason}")
                entry.skipped.append(reason)
                report.skip(key, reason)  # as re-runs repeat it
                continue
            if article.id in excluded:
                entry.skipped.append(f"article {article.id} was removed by the user")
                continue
            first = seen_hashes.get(article.content_hash)
            if first is not None:  # also two equal lines of one .jsonl
                reason = f"duplicate of {first} (same text), indexed once"
                if item.key:
                    reason = f"line {item.key[1:]}: {reason}"
                entry.skipped.append(reason)
                report.skip(key, reason)
                continue
            seen_hashes[article.content_hash] = key + (f":{item.key[1:]}" if item.key else "")
            entry.articles.append(article.id)
            new_articles.append(article)
        files[key] = entry
        if entry.articles:  # a file whose every item was skipped is reported as skipped only
            (report.updated if old_entry else report.added).append(key)
        report.articles_added += len(entry.articles)

    removed_ids = [a for k, e in old_files.items() if k not in files for a in e.articles]
    report.removed += [k for k in old_files if k not in files]
    # a re-read file's old articles go (its new ones replace them); a merely touched one keeps
    removed_ids += [a for _, old_entry, _, _ in to_read if old_entry for a in old_entry.articles]
    return _Scan(files, new_articles, removed_ids)


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
