"""The chat's uploads folder (`<index_dir>/uploads`): add files, list them, remove them.

The rules live here, not in the chat handler, so they are tested in one place:
- a file is kept only when something in it can be indexed; a refused one (empty, binary,
  unsupported, a duplicate) would otherwise sit in the folder and come back in every report;
- a failed build leaves the folder and the index as they were (a replaced file included);
- names are plain file names: no folders, no "..", no hidden files (scans ignore those).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qa.embedding import Embedder
from qa.indexing import (
    USER_REMOVED,
    IndexReport,
    PathNames,
    Progress,
    build_index,
    check_file,
)
from qa.settings import Settings
from qa.store import current_folder, load_manifest

log = logging.getLogger(__name__)

#: Where the chat keeps uploaded files, under the index folder.
UPLOADS = "uploads"


@dataclass(frozen=True)
class UploadedFile:
    """One file in the uploads folder, as the corpus tab lists it."""

    name: str
    size: int
    articles: int  # articles it has in the index now
    skipped: tuple[str, ...] = ()  # why parts of it are not indexed (one line each)
    indexed: bool = True  # False: the last scan has not seen this version of it

    @property
    def status(self) -> str:
        """One short phrase for a table cell."""
        if not self.indexed:
            return "not indexed yet"
        if self.skipped and not self.articles:
            return "not indexed: " + "; ".join(self.skipped)
        return f"{self.articles} article{'' if self.articles == 1 else 's'}" + (
            f" ({len(self.skipped)} skipped)" if self.skipped else ""
        )


@dataclass
class UploadResult:
    """What `add` or `remove` did, ready to show: `message` for the report box."""

    ok: bool  # False: it could not run (nothing chosen, a bad name, the build failed)
    lines: list[str]
    kept: list[str] = field(default_factory=list)  # names now in the folder and indexed
    refused: dict[str, str] = field(default_factory=dict)  # name -> why it was not kept
    report: IndexReport | None = None  # the build's own report, when one ran

    @property
    def message(self) -> str:
        return "\n".join(self.lines)


class Uploads:
    """Add, list and remove the files uploaded through the chat.

    `embedder`: pass the chat's loaded model so an upload does not load a second one.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.folder = settings.index_dir / UPLOADS

    # --- add -------------------------------------------------------------------------------

    def add(self, paths: Sequence[str | Path], progress: Progress | None = None) -> UploadResult:
        """Copy `paths` into the folder under their own names, and index them.

        Files with nothing to index are refused before they are copied; if the build fails,
        the copies are taken back out and any file they replaced is put back.
        """
        if not paths:
            return UploadResult(False, ["Choose one or more files first."])
        with self._lock():
            self.folder.mkdir(parents=True, exist_ok=True)
            root = self.folder.resolve()
            refused: dict[str, str] = {}
            accepted = self._check(paths, root, refused)
            if not accepted:
                report = self._no_build_report(refused)
                return UploadResult(True, report.lines() + _not_kept(refused),
                                    refused=refused, report=report)
            backups = Path(tempfile.mkdtemp(prefix=".uploads-backup-",
                                            dir=self.settings.index_dir))
            copied: list[Path] = []
            moved: dict[Path, Path] = {}  # target -> the file it replaced, moved aside
            try:
                try:
                    for src, target in accepted:
                        _copy_in(src, target, backups, copied, moved)
                    report = build_index(self.settings, [root], embedder=self.embedder,
                                         progress=progress)
                except BaseException as exc:  # Ctrl-C included: the folder goes back
                    _undo(copied, moved)
                    if not isinstance(exc, Exception):
                        raise
                    log.exception("upload failed")
                    return UploadResult(False, [
                        f"Upload failed; the uploads folder and the index are unchanged: "
                        f"{type(exc).__name__}: {self._safe_text(str(exc))}"
                    ], refused=refused)
                dropped, notes = self._drop_unindexed(report, root, copied, moved, progress)
            finally:
                shutil.rmtree(backups, ignore_errors=True)
            for name, why in refused.items():
                report.skip(name, why)
            refused.update(dropped)  # their skip lines are in the report already
            kept = [t.name for t in copied]
            return UploadResult(True, report.lines() + _not_kept(refused) + notes, kept=kept,
                                refused=refused, report=report)

    def _check(
        self, paths: Sequence[str | Path], root: Path, refused: dict[str, str]
    ) -> list[tuple[Path, Path]]:
        """(source, target) of the uploads worth copying; the others go into `refused`."""
        known = self._indexed_hashes()
        names = PathNames(self._roots(root))
        batch: dict[str, str] = {}  # content hash -> key, within this upload
        accepted: list[tuple[Path, Path]] = []
        for raw in paths:
            src = Path(raw)
            name = src.name
            target = root / name
            why = refuse_name(name)
            if why is None and name in {t.name for _, t in accepted}:
                why = "the same name twice in one upload"
            if why is None and not src.is_file():
                why = "not a file"
            if why is None and target.is_dir():
                why = "a folder of that name is in the uploads folder"
            if why is None:
                why = self._nothing_to_index(src, target, known, batch, names)
            if why is not None:
                refused[name or "(no name)"] = why
                continue
            accepted.append((src, target))
        return accepted

    def _nothing_to_index(
        self, src: Path, target: Path, known: dict[str, str], batch: dict[str, str],
        names: PathNames,
    ) -> str | None:
        """Why `src` would add no article (in the reader's words), or None when it would."""
        items = check_file(src, self.settings, key=str(target))
        articles = [i.article for i in items if i.article is not None]
        if not articles:
            return items[0].reason if items else "no articles in it"
        fresh = [a for a in articles
                 if known.get(a.content_hash, str(target)) == str(target)  # itself: a re-upload
                 and a.content_hash not in batch]
        if not fresh:
            first = known.get(articles[0].content_hash) or batch[articles[0].content_hash]
            return f"duplicate of {names.text(first)} (same text), indexed once"
        for article in fresh:
            batch[article.content_hash] = str(target)
        return None

    def _drop_unindexed(
        self, report: IndexReport, root: Path, copied: list[Path], moved: dict[Path, Path],
        progress: Progress | None,
    ) -> tuple[dict[str, str], list[str]]:
        """Take out copies the build indexed nothing from, and re-scan: (name -> why, notes).

        Only what the check before copying could not foresee ends up here, such as a
        duplicate of a file added to another indexed folder meanwhile.
        """
        manifest = load_manifest(self.settings.index_dir)
        files = manifest.files if manifest else {}
        names = PathNames(self._roots(root))
        dropped: dict[str, str] = {}
        for target in copied:
            entry = files.get(str(target))
            if entry is None or not entry.articles:
                reasons = [names.text(r) for r in (entry.skipped if entry else [])]
                dropped[target.name] = "; ".join(reasons) or "nothing in it was indexed"
        if not dropped:
            return dropped, []
        _undo([t for t in copied if t.name in dropped],
              {t: moved.pop(t) for t in list(moved) if t.name in dropped})
        copied[:] = [t for t in copied if t.name not in dropped]
        try:
            again = build_index(self.settings, [root], embedder=self.embedder,
                                progress=progress)
        except Exception as exc:  # the upload itself is done; the next run tidies up
            log.exception("re-scan after dropping uploads failed")
            return dropped, [f"Re-scanning after taking them out failed ({type(exc).__name__}); "
                             "the next index run finishes it."]
        # two steps, both counted: a replaced file put back is removed, then added again
        report.articles_added += again.articles_added
        report.articles_removed += again.articles_removed
        report.chunks_added += again.chunks_added
        report.articles_total, report.chunks_total = again.articles_total, again.chunks_total
        report.published = report.published or again.published
        return dropped, []

    # --- list ------------------------------------------------------------------------------

    def files(self) -> list[UploadedFile]:
        """The uploaded files (top level of the folder), with what the index holds of each."""
        if not self.folder.is_dir():
            return []
        root = self.folder.resolve()
        manifest = load_manifest(self.settings.index_dir)
        entries = manifest.files if manifest else {}
        names = PathNames(self._roots(root))
        out = []
        for path in sorted(root.iterdir(), key=lambda p: p.name.lower()):
            if path.name.startswith(".") or not path.is_file():
                continue
            stat = path.stat()
            entry = entries.get(str(path))
            if entry is None or (entry.size, entry.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                out.append(UploadedFile(path.name, stat.st_size, 0, indexed=False))
                continue
            skipped = tuple(names.text(r) for r in entry.skipped if not r.endswith(USER_REMOVED))
            out.append(UploadedFile(path.name, stat.st_size, len(entry.articles), skipped))
        return out

    # --- remove ----------------------------------------------------------------------------

    def remove(self, name: str, progress: Progress | None = None) -> UploadResult:
        """Delete an uploaded file and drop its articles from the index.

        The file is deleted and the folder re-scanned (not excluded by article id), so the
        manifest has no entry left for it; if the build fails, the file is put back.
        """
        why = refuse_name(name)
        if why is not None:
            return UploadResult(False, [f"Cannot remove {name!r}: {why}."])
        with self._lock():
            root = self.folder.resolve()
            target = root / name
            if not target.is_file():
                return UploadResult(False, [f"No uploaded file named {name}."])
            backups = Path(tempfile.mkdtemp(prefix=".uploads-backup-",
                                            dir=self.settings.index_dir))
            moved = {target: backups / name}
            os.replace(target, moved[target])
            try:
                report = build_index(self.settings, [root], embedder=self.embedder,
                                     progress=progress)
            except BaseException as exc:
                _undo([], moved)
                if not isinstance(exc, Exception):
                    raise
                log.exception("removing an upload failed")
                return UploadResult(False, [
                    f"Removing {name} failed; it and the index are unchanged: "
                    f"{type(exc).__name__}: {self._safe_text(str(exc))}"
                ])
            finally:
                shutil.rmtree(backups, ignore_errors=True)
        return UploadResult(True, [f"Removed {name}.", *report.lines()], report=report)

    # --- helpers ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One upload or removal at a time (threads and processes): each moves files aside."""
        self.settings.index_dir.mkdir(parents=True, exist_ok=True)
        with open(self.settings.index_dir / ".uploads.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _roots(self, root: Path) -> list[str]:
        manifest = load_manifest(self.settings.index_dir)
        return [*(manifest.roots if manifest else []), str(root)]

    def _safe_text(self, text: str) -> str:
        """An error message without the server's folders in it."""
        roots = self._roots(self.folder.resolve())
        return PathNames([*roots, str(self.settings.index_dir.resolve())]).text(text)

    def _indexed_hashes(self) -> dict[str, str]:
        """content hash -> file key of every article in the live index (none: {})."""
        folder = current_folder(self.settings.index_dir)
        if folder is None or not (folder / "meta.sqlite").is_file():
            return {}
        uri = f"file:{folder / 'meta.sqlite'}?mode=ro"
        try:
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
                return dict(db.execute("SELECT content_hash, path FROM articles"))
        except sqlite3.Error:  # a damaged index is rebuilt by the build; nothing to compare
            return {}

    def _no_build_report(self, refused: dict[str, str]) -> IndexReport:
        """The report of an upload where every file was refused: the index as it is."""
        report = IndexReport()
        for name, why in refused.items():
            report.skip(name, why)
        folder = current_folder(self.settings.index_dir)
        if folder is not None and (folder / "meta.sqlite").is_file():
            with contextlib.suppress(sqlite3.Error), contextlib.closing(
                sqlite3.connect(f"file:{folder / 'meta.sqlite'}?mode=ro", uri=True)
            ) as db:
                report.articles_total = db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
                report.chunks_total = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        report.articles_unchanged = report.articles_total
        return report


def refuse_name(name: str) -> str | None:
    """Why `name` cannot be an uploaded file's name, or None when it can."""
    if not name or not name.strip():
        return "no file name"
    if name in {".", ".."} or any(c in name for c in "/\\\x00") or Path(name).name != name:
        return "not a plain file name (no folders, no '..')"
    if name.startswith("."):
        return "hidden files (names starting with '.') are not indexed"
    return None


def _copy_in(
    src: Path, target: Path, backups: Path, copied: list[Path], moved: dict[Path, Path]
) -> None:
    """Copy under a hidden name first (scans skip it), move any old file aside, then rename."""
    part = target.with_name(f".{target.name}.part")
    try:
        shutil.copyfile(src, part)
        if target.exists() or target.is_symlink():
            moved[target] = backups / target.name
            os.replace(target, moved[target])
        os.replace(part, target)
        copied.append(target)
    finally:
        part.unlink(missing_ok=True)


def _undo(copied: list[Path], moved: dict[Path, Path]) -> None:
    """Take copies out and put back the files they replaced (with their old mtimes)."""
    for target in copied:
        with contextlib.suppress(OSError):
            target.unlink(missing_ok=True)
    for target, backup in moved.items():
        with contextlib.suppress(OSError):
            os.replace(backup, target)


def _not_kept(refused: dict[str, str]) -> list[str]:
    if not refused:
        return []
    return [f"Not kept in the uploads folder (nothing in them to index): "
            f"{', '.join(refused)}."]
