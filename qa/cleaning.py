"""Clean scraped article text and pull out title, date and source.

News scrapes carry photo credits, date lines in several forms and trailing site boilerplate
(newsletters, ads, disclaimers, comment forms). Rules are line-based so the article's own
paragraphs pass through untouched: a line is either dropped whole or kept verbatim.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from qa.dating import ArticleDate, byline_date, dateline_date, metadata_date, stamp_date
from qa.language import language

#: Agencies and outlets recognised in credits, datelines and "Quelle:" lines.
AGENCIES = ["dpa-AFX", "dpa", "AFP", "Reuters", "AP", "KNA", "epd", "APA", "SDA", "Bloomberg"]
_AGENCY_RE = "|".join(re.escape(a) for a in AGENCIES)

# A "date YYYY-MM[-DD]" stamp some scrapers prepend to the title line.
_DATE_PREFIX = re.compile(r"^\s*date\s+(?P<iso>\d{4}-\d{2}(?:-\d{2})?)\s+")
# Labelled stamps are trusted anywhere (sites print "Stand: ..." under the text too); an
# unlabelled date line only in the header, before the story's first long paragraph.
_STAMP_LABEL = re.compile(
    r"^\s*(?:Stand|Veröffentlicht|Erschienen|Aktualisiert|Published|Updated|Posted)\b", re.I
)
_LONG_PARAGRAPH = 200

# Dropped wherever they stand: photo credits, captions and ad labels.
_DROP_LINES = [
    re.compile(r"^\s*(?:Copyright|©|\(c\))\s", re.I),
    re.compile(r"\bFoto:\s*\S+.*$"),
    re.compile(r"\((?:Archivfoto|Symbolbild|Symbolfoto)\)"),
    re.compile(r"\|\s*(?:REUTERS|AFP|dpa|AP|picture alliance|Getty Images|EPA)\s*$", re.I),
    re.compile(r"^.{0,200}\.\s+(?:pixabay|unsplash|imago|shutterstock)\.com\s*$", re.I),
    re.compile(r"^\s*(?:Werbung|Anzeige|Advertisement)\s*$", re.I),
    re.compile(r"^\s*\w[\w ]{0,60}Berichterstattung(?: aus [\w ]+)? beigetragen\.?\s*$"),
]
# Broadcaster footers ("Über dieses Thema berichteten die tagesthemen ...") name the outlet.
_BROADCAST_NOTE = re.compile(
    r"^\s*Über dieses Thema berichtete(?:n)?\s+(?:die|das|der)?\s*(?P<src>\w+)"
)
_OUTLETS = {"tagesthemen": "tagesschau", "tagesschau": "tagesschau", "nachtmagazin": "tagesschau"}

# From the first of these on, the rest is site furniture, never article text.
_TAIL_MARKERS = [
    re.compile(r"^\s*Quelle:\s*(?P<src>.+?)\s*$"),
    re.compile(r"^\s*Aktuelle Beiträge\s*$"),
    re.compile(r"^\s*Exklusiv(?:e)? Interviews\s*$"),
    re.compile(r"^\s*Melden Sie sich .*Newsletter", re.I),
    re.compile(r"^\s*(?:Newsletter|Jetzt)\s.*(?:abonnieren|anmelden)", re.I),
    re.compile(r"^\s*Mehr Nachrichten\b.*\babonnieren\s*$", re.I),
    re.compile(r"^\s*Benachrichtigungen von\b", re.I),
    re.compile(r"^\s*Hinweis:\s*\S+\s+veröffentlicht in dieser Rubrik", re.I),
    re.compile(r"^\s*Andere Nutzer interessierte auch", re.I),
    re.compile(r"^\s*Das könnte Sie auch interessieren", re.I),
    re.compile(r"^\s*(?:Leave a Reply|Leave a Comment|Kommentar schreiben|Kommentare)\s*$", re.I),
    re.compile(r"^\s*source site\s*$", re.I),
    re.compile(r"^\s*Teilen(?: Sie diesen Artikel)?:?\s*$", re.I),
]

# Trailing credit line like "(peng/AFP/dpa)" and dpa author codes like "./cy/DP/stw".
_CREDIT_LINE = re.compile(r"^\s*\((?P<inner>[\w\s/.,-]{2,60})\)\s*$")
_AUTHOR_CODES = re.compile(r"(?<=[.!?\"“”])(?:/[A-Za-z]{1,5}){2,}\s*$")
# "GENF (dpa-AFX) - ", also with the date: "HELSINKI, 3. Dezember 2021 (AFP) – "
_DATELINE_SRC = re.compile(
    rf"^[A-ZÄÖÜ][\wÄÖÜ .-]{{1,40}}(?:,[^()–]{{1,40}})?\s\((?P<src>{_AGENCY_RE})\)\s+[-–]\s")


@dataclass(frozen=True)
class Cleaned:
    title: str
    text: str
    date: str | None
    source: str | None
    date_origin: str | None = None  # metadata, stamp, byline or dateline (qa.dating.ORIGINS)


def clean_article(
    text: str,
    title: str | None = None,
    date_hint: str | None = None,
    source_hint: str | None = None,
) -> Cleaned:
    """Return the article body with boilerplate removed, plus title, ISO date and source.

    `title`, `date_hint` and `source_hint` come from the format (HTML metadata, jsonl fields)
    and win over what is found in the text, except that an unparseable date is ignored.
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.rstrip() for line in text.split("\n")]
    order = "MDY" if language(text[:2000]) == "en" else "DMY"
    found = metadata_date(date_hint)
    sources: list[str] = [source_hint] if source_hint else []
    kept: list[str] = []
    in_header = True

    for line in lines:
        stripped = line.strip()
        if not stripped:
            kept.append("")
            continue
        prefix = _DATE_PREFIX.match(line)
        if prefix:
            scraped = metadata_date(prefix.group("iso"))
            found = found or (ArticleDate(scraped.value, "stamp") if scraped else None)
            line = line[prefix.end():]
            stripped = line.strip()
        if in_header or _STAMP_LABEL.match(stripped):
            stamped = stamp_date(stripped, order)
            day = stamped or byline_date(stripped, order)
            if day:
                found = found or ArticleDate(day.isoformat(), "stamp" if stamped else "byline")
                sources.extend(_agencies_in(stripped))
                continue
        in_header = in_header and len(stripped) < _LONG_PARAGRAPH
        tail = _match_any(_TAIL_MARKERS, stripped)
        if tail and any(k.strip() for k in kept):
            src = tail.groupdict().get("src")
            if src:
                sources.extend(_agencies_in(src) or [src])
            break
        if _match_any(_DROP_LINES, stripped):
            continue
        note = _BROADCAST_NOTE.match(stripped)
        if note:
            outlet = note.group("src")
            sources.append(_OUTLETS.get(outlet.lower(), outlet))
            continue
        credit = _CREDIT_LINE.match(stripped)
        if credit and "/" in credit.group("inner") and _agencies_in(credit.group("inner")):
            sources.extend(_agencies_in(credit.group("inner")))
            continue
        line = _AUTHOR_CODES.sub("", line)
        dateline = _DATELINE_SRC.match(stripped)
        if dateline:
            sources.append(dateline.group("src"))
        kept.append(line)

    paragraphs = _paragraphs(kept)
    # A teaser line repeating the start of the title ("Spitzengespräch zwischen …") is furniture.
    paragraphs = [p for p in paragraphs if not _is_title_teaser(p, paragraphs)]
    if title is None and paragraphs and _looks_like_title(paragraphs[0]):
        title = paragraphs.pop(0)
    title = re.sub(r"\s+", " ", re.sub(r"\s+:\s+", ": ", (title or "").strip())) or (
        paragraphs[0][:80] if paragraphs else ""
    )
    # The headline repeated as the first line of the body (HTML <h1>, a copied title line).
    while len(paragraphs) > 1 and re.sub(r"\s+", " ", paragraphs[0]) == title:
        paragraphs.pop(0)
    body = "\n\n".join(paragraphs)
    if found is None:
        found = _dateline(paragraphs, order)
    return Cleaned(
        title=title, text=body, date=found.value if found else None,
        source=_pick_source(sources), date_origin=found.origin if found else None,
    )


def _dateline(paragraphs: list[str], order: str) -> ArticleDate | None:
    """The dateline of the story's first paragraph (teasers and captions come before it)."""
    for paragraph in paragraphs[:3]:
        day = dateline_date(paragraph, order)
        if day:
            return ArticleDate(day.isoformat(), "dateline")
    return None


def _match_any(patterns: list[re.Pattern[str]], line: str) -> re.Match[str] | None:
    for pattern in patterns:
        match = pattern.search(line)
        if match:
            return match
    return None


def _agencies_in(text: str) -> list[str]:
    """Agencies named in `text`, in the order they appear."""
    found = []
    for agency in AGENCIES:
        match = re.search(rf"(?<![\w-]){re.escape(agency)}(?![\w-])", text, re.I)
        if match:
            found.append((match.start(), agency))
    return [agency for _, agency in sorted(found)]


def _pick_source(sources: list[str]) -> str | None:
    """All named sources in order, agencies spelt canonically: "AFP/dpa"."""
    names: list[str] = []
    for src in sources:
        canonical = [a for a in AGENCIES if a.lower() == src.strip().lower()]
        name = canonical[0] if canonical else src.strip()
        if name and name not in names:
            names.append(name)
    return "/".join(names) or None


def _paragraphs(lines: list[str]) -> list[str]:
    """Group lines into paragraphs (blank-line separated), whitespace-trimmed."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current) if len(current) > 1 else current[0])
            current = []
    return paragraphs


def _looks_like_title(paragraph: str) -> bool:
    return len(paragraph) <= 200 and not paragraph.endswith((".", "!", "?", '"', "“", "”"))


def _is_title_teaser(paragraph: str, paragraphs: list[str]) -> bool:
    if not paragraph.endswith(("…", "...")) or len(paragraph) > 120 or not paragraphs:
        return False
    stem = paragraph.rstrip("…. ").strip()
    return bool(stem) and any(p.startswith(stem) and p != paragraph for p in paragraphs[:3])
