"""When an article was published, read from where articles state it, or honestly unknown.

A newsroom filters and places statements in time by this date, so a wrong one is worse than
none. It is read only from the places a publication date stands: the format's metadata
(HTML meta tags via htmldate, a jsonl field), a stamp line ("Stand: 08.12.2021 01:21 Uhr",
"Freitag, 21.01.2022 15:41 von dpa-AFX"), a byline ("Von Anna Schmidt, 3. Februar 2022") and
the dateline that opens the first paragraph ("BERLIN, 3. Februar 2022 –"). A date mentioned in
the story or the headline is never taken, nor a bare year, nor a dateline without its year
("WASHINGTON, Dec 3 (Reuters) -"). The text of a date is parsed by `dateparser`, which knows
German and English month names, abbreviations and weekday forms; this module only decides
*which* short piece of a line is the date and whether the rest of the line is furniture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

#: German month names (the chunker keeps "3. Dezember" in one sentence by them).
MONTHS = {
    "januar": 1, "jänner": 1, "februar": 2, "märz": 3, "april": 4, "mai": 5, "juni": 6,
    "juli": 7, "august": 8, "september": 9, "oktober": 10, "november": 11, "dezember": 12,
}

#: Where a date was read; shown to the user beside the date.
ORIGINS = ("metadata", "stamp", "byline", "dateline")

# Words a stamp line may hold besides the date: labels, clock times, time zones, an agency
# credit and view counters. Anything else (a verb, a name) makes it a sentence, not a stamp.
_STAMP_WORDS = set(
    "stand veröffentlicht erschienen aktualisiert zuletzt geändert datum am um uhr von mez mesz "
    "published updated posted last modified on at date first the est edt et cet cest gmt utc "
    "bst pst pdt am pm a.m. p.m. aufrufe lesezeit min minuten views read".split()
)
_AGENCY_WORDS = {"dpa", "dpa-afx", "afp", "reuters", "ap", "kna", "epd", "apa", "sda", "bloomberg"}
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?(?!\d)")
_ISO_MONTH = re.compile(r"^\s*(\d{4})-(\d{2})\s*$")
_DASH = re.compile(r"\s[-–—]\s|\s?[–—]\s?")
_BYLINE = re.compile(r"^\s*(?:Von|By)\s+\S")
_WINDOW_TOKENS = 6  # "Fri, Dec. 3, 2021" is 4 tokens; weekday + time + date never exceeds 6


@dataclass(frozen=True)
class ArticleDate:
    """An ISO date (YYYY-MM-DD, or YYYY-MM when only the month is stated) and its origin."""

    value: str
    origin: str


def parse_date(text: str, order: str = "DMY") -> date | None:
    """A full calendar date in `text` (which must be only the date, maybe with weekday/time).

    `order` settles numeric forms like 02/03/2022 (German articles DMY, English MDY); dotted
    forms (03.02.2022) are always day first.
    """
    text = text.strip(" ,;|()")
    if not text or not _YEAR.search(text):
        return None
    iso = _ISO.fullmatch(text.strip())
    if iso:
        return _valid(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    if re.search(r"\d\.\d{1,2}\.\d{4}", text):
        order = "DMY"
    parsed = _dateparser(text, order)
    return parsed.date() if parsed else None


def parse_user_date(value: str) -> str | None:
    """A filter bound typed by a user: a day, or a month ("2021-12", "Dezember 2021")."""
    value = value.strip()
    month = _ISO_MONTH.match(value)
    if month:
        y, m = int(month.group(1)), int(month.group(2))
        return f"{y:04d}-{m:02d}" if 1 <= m <= 12 else None
    found = _date_window(value, "DMY")
    if found:
        return found[0].isoformat()
    if _YEAR.search(value):
        month_only = _dateparser(value, "DMY", parts=("month", "year"))
        if month_only:
            return f"{month_only.year:04d}-{month_only.month:02d}"
    return None


def stamp_date(line: str, order: str = "DMY") -> date | None:
    """The date of a line that is only a date stamp, else None (a sentence is not a stamp)."""
    if len(line) > 120 or not _YEAR.search(line):
        return None
    found = _date_window(line, order)
    if found is None:
        return None
    day, start, end = found
    rest = line[:start] + " " + line[end:]
    return day if _only_furniture(rest) else None


def byline_date(line: str, order: str = "DMY") -> date | None:
    """The date in a byline ("Von Anna Schmidt | 07. Dezember 2021, 14:30 Uhr")."""
    if len(line) > 160 or not _BYLINE.match(line) or line.rstrip().endswith((".", "!", "?")):
        return None
    found = _date_window(line, order)
    if found is None:
        return None
    day, start, end = found
    names = re.sub(r"^\s*(?:Von|By)\s+", "", line[:start]) + " " + line[end:]
    words = [w for w in re.split(r"[\s,|/]+", names) if w]
    # the rest is names ("Anna Schmidt und Max Muster"), an agency, a time: no sentence
    allowed = {"und", "and", "mit", "with"} | _STAMP_WORDS | _AGENCY_WORDS
    ok = all(w[0].isupper() or w.lower() in allowed or _is_clock(w) for w in words)
    return day if ok else None


def dateline_date(paragraph: str, order: str = "DMY") -> date | None:
    """The date in the dateline opening a paragraph ("BERLIN, 3. Februar 2022 (dpa) – ...")."""
    dash = _DASH.search(paragraph[:90])
    if dash is None:
        return None
    head = paragraph[: dash.start()]
    place, _, rest = head.partition(",")
    if not rest or not place.strip() or not place.strip()[0].isupper() or len(place) > 40:
        return None
    rest = re.sub(r"\([^)]{1,30}\)", " ", rest)  # the agency credit: "(dpa)", "(Reuters)"
    found = _date_window(rest, order)
    if found is None:
        return None
    day, start, end = found
    return day if _only_furniture(rest[:start] + " " + rest[end:]) else None


def metadata_date(value: str | None) -> ArticleDate | None:
    """A date given by the format (HTML metadata, a jsonl field); ISO month stays a month."""
    if not value:
        return None
    month = _ISO_MONTH.match(value)
    if month and 1 <= int(month.group(2)) <= 12:
        return ArticleDate(f"{int(month.group(1)):04d}-{int(month.group(2)):02d}", "metadata")
    day = parse_date(value)
    return ArticleDate(day.isoformat(), "metadata") if day else None


def date_label(value: str | None, origin: str | None) -> str:
    """What a source card says about when: "2021-12-08 (stamp)", or "undated"."""
    if not value:
        return "undated"
    return f"{value} ({origin})" if origin else value


def _date_window(text: str, order: str) -> tuple[date, int, int] | None:
    """The shortest run of tokens ending in a year that parses as a full date.

    Shortest first, so "BERLIN, 3. Februar 2022" yields "3. Februar 2022" and a leading
    place or label never becomes part of the date. Returns (date, start, end) offsets.
    """
    iso = _ISO.search(text)
    if iso:
        day = _valid(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        if day:
            return day, iso.start(), iso.end()
    for year in _YEAR.finditer(text):
        end = year.end()
        starts = [m.start() for m in re.finditer(r"\S+", text[:end])]
        for start in reversed(starts[-_WINDOW_TOKENS:]):
            parsed = parse_date(text[start:end], order)
            if parsed:
                return parsed, start, end
    return None


def _only_furniture(rest: str) -> bool:
    words = [w.strip("-–—") for w in re.split(r"[\s,|:;()]+", rest)]
    words = [w for w in words if w and w != "."]
    return all(
        w.lower().strip(".") in _STAMP_WORDS or w.lower() in _STAMP_WORDS
        or w.lower() in _AGENCY_WORDS or _is_clock(w) or w.isdigit() or _is_weekday(w)
        for w in words
    )


def _is_clock(word: str) -> bool:
    return bool(re.fullmatch(r"\d{1,2}[:.]\d{2}(?::\d{2})?(?:h|Uhr)?", word))


_WEEKDAYS = set(
    "montag dienstag mittwoch donnerstag freitag samstag sonntag mo di mi do fr sa so monday "
    "tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat "
    "sun".split()
)


def _is_weekday(word: str) -> bool:
    return word.lower().strip(".") in _WEEKDAYS


def _valid(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _dateparser(text: str, order: str, parts: tuple[str, ...] = ("day", "month", "year")
                ) -> datetime | None:
    import dateparser  # imported on first use: loading its language data costs ~0.1 s

    return dateparser.parse(
        text,
        languages=["de", "en"],
        settings={
            "REQUIRE_PARTS": list(parts),
            "STRICT_PARSING": "day" in parts,  # strict demands a day; months are asked without
            "DATE_ORDER": order,
            "PREFER_DATES_FROM": "past",
        },
    )
