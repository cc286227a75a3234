"""Who may change the corpus, within which limits, and the record of every change.

A desk shares one instance: readers ask, editors add and remove articles, a read-only
instance lets nobody change anything. The rules live here, below the chat, so the buttons,
the editors' API and the tests all go through the same checks; hiding a button is not a
permission. Each change that reached the index is appended to the corpus log.
"""

from __future__ import annotations

from pathlib import Path

from qa.accounts import Accounts
from qa.corpus_log import log_change
from qa.embedding import Embedder
from qa.indexing import Progress, build_index
from qa.settings import Settings
from qa.uploads import Uploads


def size_label(n: int) -> str:
    """"1.2 MB" or "3 kB"."""
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(1, round(n / 1e3))} kB"


class CorpusDesk:
    """Adds and removes articles for signed-in editors; refuses everyone else with a reason."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None,
                 accounts: Accounts | None = None) -> None:
        self.settings = settings
        self.uploads = Uploads(settings, embedder=embedder)
        #: sign-in users (None: no sign-in, so whoever reaches the page may edit)
        self.accounts = accounts

    def editor(self, username: str | None) -> str | None:
        """The editor's name (None without sign-in); PermissionError saying why not."""
        if self.settings.read_only:
            raise PermissionError("This chat is read-only (QA_READ_ONLY): articles cannot be "
                                  "added or removed here.")
        if self.accounts is None:
            return None
        user = self.accounts.user(username)
        if user is None:
            raise PermissionError("Sign in as an editor to add or remove articles.")
        if not user.can_edit:
            raise PermissionError(f"{user.name} is a reader: only editors may add or remove "
                                  "articles. Ask an editor, or the operator: qa users role "
                                  f"{user.name} editor.")
        return user.name

    def too_large(self, paths: list[str]) -> str | None:
        """Why these files exceed the upload limits, or None."""
        s = self.settings
        sizes = {Path(p).name: Path(p).stat().st_size for p in paths}
        big = [f"{n} ({size_label(b)})" for n, b in sizes.items() if b > s.max_upload_mb * 1e6]
        if big:
            return (f"Not uploaded: {', '.join(big)} over the {s.max_upload_mb:g} MB limit per "
                    "file (QA_MAX_UPLOAD_MB). Nothing was indexed.")
        total = sum(sizes.values())
        if total > s.max_upload_request_mb * 1e6:
            return (f"Not uploaded: {len(paths)} files of {size_label(total)} together, over "
                    f"the {s.max_upload_request_mb:g} MB limit per upload "
                    "(QA_MAX_UPLOAD_REQUEST_MB). Upload them in parts. Nothing was indexed.")
        return None

    def add(self, paths: list[str], username: str | None,
            progress: Progress | None = None) -> tuple[bool, str]:
        """Check the role and the limits, index the files, log it: (went through, report)."""
        user = self.editor(username)
        if not paths:
            return False, "Choose one or more files first."
        refused = self.too_large(paths)
        if refused:
            return False, refused
        result = self.uploads.add(paths, progress=progress)
        if result.report is not None or result.kept:
            log_change(self.settings.index_dir, user, "upload", [Path(p).name for p in paths],
                       result.lines)
        return result.ok, result.message

    def remove_upload(self, name: str, username: str | None) -> tuple[bool, str]:
        """Delete an uploaded file and its articles (also one that indexed nothing)."""
        user = self.editor(username)
        result = self.uploads.remove(name)
        if result.ok:
            log_change(self.settings.index_dir, user, "remove", [name], result.lines)
        return result.ok, result.message

    def remove_article(self, article_id: str, username: str | None) -> tuple[bool, str]:
        """Take one article out of the index (from any indexed folder); the index is
        unchanged when the build fails."""
        user = self.editor(username)
        try:
            report = build_index(self.settings, remove_ids=[article_id])
        except Exception as exc:
            return False, f"Removing failed, the index is unchanged: {exc}"
        lines = [f"Removed {article_id}.", *report.lines()]
        log_change(self.settings.index_dir, user, "remove", [article_id], lines)
        return True, "\n".join(lines)
