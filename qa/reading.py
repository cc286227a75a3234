"""Turn files of each supported format into raw article records.

Reading is separate from cleaning: this module only knows formats and encodings, and
reports any file it cannot use as a `Skipped` with a one-line reason instead of raising, so a
bad file never stops a run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES


@dataclass(frozen=True)
class RawArticle:
    """Text as found in a file, plus whatever metadata the format itself carries."""

    path: Path
    key: str  # unique within the file: "" for single-article files, "L<n>" for jsonl lines
    text: str
    fmt: str  # "text" | "markdown" | "html" | "jsonl"
    title: str | None = None
    date: str | None = None
    source: str | None = None
    url: str | None = None
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Skipped:
    """A file (or jsonl line) that was not indexed, and why, in one line."""

    path: Path
    reason: str
    key: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.key[1:]}" if self.key else str(self.path)
        return f"{where}: {self.reason}"


def decode(data: bytes) -> tuple[str, str]:
    """Decode bytes as UTF-8 when valid, else the encoding charset-normalizer detects.

    Raises ValueError for content that is not text (NUL bytes, undecodable).
    """
    head = data[:8192]
    if b"\x00" in head and not (head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff")):
        raise ValueError("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    western = _as_western(data)
    if western is not None:
        return western, "cp1252"
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise ValueError("not decodable as text in any known encoding")
    text = str(best)
    controls = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > 0.05 * max(1, len(text[:4096])):
        raise ValueError("binary file (mostly control characters), not text")
    return text, best.encoding


def _as_western(data: bytes) -> str | None:
    """Decode as cp1252 (a superset of the printable Latin-1) when that reads as Western text.

    German files that are not UTF-8 are almost always Latin-1/cp1252, and charset detection
    guesses wrong on short texts ("Schöne Grüße" as Urdu cp1006, or cp1250 that turns "à"
    into "ŕ"). Text in another script decoded this way is mostly accented letters, which real
    Western text never is, so it falls through to detection.
    """
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    letters = [ch for ch in text if ch.isalpha()]
    accented = sum(1 for ch in letters if ord(ch) > 127)
    return text if letters and accented <= 0.5 * len(letters) else None


def read_path(path: Path, max_article_bytes: int) -> Iterator[RawArticle | Skipped]:
    """Yield the articles in one file, or why it was skipped."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        known = " ".join(sorted(SUPPORTED_SUFFIXES))
        yield Skipped(path, f"unsupported format '{suffix or path.name}' (supported: {known})")
        return
    try:
        size = path.stat().st_size
    except OSError as exc:
        yield Skipped(path, f"cannot read: {exc.strerror or exc}")
        return
    if size == 0:
        yield Skipped(path, "empty file")
        return
    if suffix not in JSONL_SUFFIXES and size > max_article_bytes:
        yield Skipped(
            path,
            f"too large for one article ({size / 1e6:.1f} MB > {max_article_bytes / 1e6:.1f} MB; "
            "raise QA_MAX_FILE_MB to index it)",
        )
        return
    try:
        data = path.read_bytes()
        text, encoding = decode(data)
    except (OSError, ValueError) as exc:
        yield Skipped(path, str(exc))
        return
    if suffix in JSONL_SUFFIXES:
        yield from _read_jsonl(path, text, encoding, max_article_bytes)
    elif suffix in HTML_SUFFIXES:
        yield _read_html(path, text, encoding)
    else:
        fmt = "markdown" if suffix in {".md", ".markdown"} else "text"
        if fmt == "markdown":
            title, text = _strip_markdown(text)
        else:
            title = None
        yield RawArticle(path, "", text, fmt, title=title, encoding=encoding)


def _read_jsonl(
    path: Path, text: str, encoding: str, max_article_bytes: int
) -> Iterator[RawArticle | Skipped]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        key = f"L{lineno}"
        if not line.strip():
            continue
        if len(line.encode("utf-8", "replace")) > max_article_bytes:
            yield Skipped(path, "article too large", key)
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Skipped(path, f"invalid JSON ({exc.msg})", key)
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            yield Skipped(path, "no 'text' field (expected an object with text, title, ...)", key)
            continue

        def field(name: str, obj: dict[str, object] = obj) -> str | None:
            value = obj.get(name)
            return str(value).strip() or None if value is not None else None

        yield RawArticle(
            path, key, obj["text"], "jsonl",
            title=field("title"), date=field("date"), source=field("source"), url=field("url"),
            encoding=encoding,
        )


def _read_html(path: Path, html: str, encoding: str) -> RawArticle | Skipped:
    """Extract the main article with trafilatura (boilerplate, menus and ads removed)."""
    try:
        import trafilatura  # imported lazily: it is slow to import and only HTML needs it
        from trafilatura.settings import set_date_params

        doc = trafilatura.bare_extraction(
            html, with_metadata=True, include_comments=False, include_tables=False,
            favor_precision=True,
            # metadata only: htmldate's extensive search turns a year in the story or the
            # copyright line into "YYYY-01-01", a date the article never states
            date_extraction_params=set_date_params(extensive=False),
        )
    except Exception as exc:  # a parser failure on one page must not stop the run
        message = " ".join(str(exc).split())
        return Skipped(path, f"HTML extraction failed ({type(exc).__name__}: {message})")
    body = getattr(doc, "text", None) if doc is not None else None
    if not body or not body.strip():
        return Skipped(path, "no article text found in the HTML")
    # trafilatura puts one block (heading, paragraph) per line; cleaning reads blank-line
    # separated paragraphs, so keep the blocks apart instead of joining them into one.
    body = re.sub(r"\n+", "\n\n", body.strip())
    return RawArticle(
        path, "", body, "html",
        title=getattr(doc, "title", None), date=getattr(doc, "date", None),
        source=getattr(doc, "sitename", None), url=getattr(doc, "url", None), encoding=encoding,
    )


_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_)(?=\S)(.+?)(?<=\S)\1")
_MD_BLOCK_PREFIX = re.compile(r"^\s{0,3}(?:>\s?)+|^\s{0,3}[-*+]\s+")
_MD_RULE_OR_FENCE = re.compile(r"^\s{0,3}(?:(?:[-*_]\s*){3,}|```.*|~~~.*)$")


def _strip_markdown(text: str) -> tuple[str | None, str]:
    """Return the first heading as title and the text without markdown syntax."""
    title: str | None = None
    lines = []
    for line in text.splitlines():
        heading = _MD_HEADING.match(line)
        if heading:
            if title is None:
                title = heading.group(1)
                continue
            line = heading.group(1)
        if _MD_RULE_OR_FENCE.match(line):
            lines.append("")
            continue
        bullet = _MD_BLOCK_PREFIX.match(line)
        if bullet:
            line = line[bullet.end():]
            if bullet.group(0).strip()[:1] in "-*+":
                lines.append("")  # each list item stands on its own, not glued to the next
        line = _MD_IMAGE.sub("", line)
        line = _MD_LINK.sub(r"\1", line)
        line = _MD_EMPHASIS.sub(r"\2", line)
        lines.append(line)
    return title, "\n".join(lines)
