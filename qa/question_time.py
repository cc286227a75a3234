"""Time in the question: "im Dezember 2021", "vor dem 10. Januar", "nach dem Videogipfel".

A newsroom asks about periods, and the index knows when each article was published. This
module finds the period a question names (`question_period`), removes the phrase from the
search query (`strip_period`), and restricts or re-ranks hits by it (`period_chunk_ids`,
`rerank_by_period`). Which of those helps, and how strongly to re-rank, is measured by
`scripts/bench_question_time.py` (its choice is stored in `qa/data/question_time.json`).

Rules that keep it from doing harm:
- A day or month without a year takes its year from `reference` (the newest article date in
  the index): the latest such day not after it. Without a reference no year is invented.
- A bare year ("Was geschah 1989?", "2014") is no period: in news questions it names when
  the *event* happened, often years before the articles about it were published.
- A month name needs a year, a day or a preposition ("im Mai"); English "May"/"March" must be
  capitalised (the verb and the modal are not months).
- An event anchor ("nach dem Videogipfel") counts only for event nouns (summit, meeting, call,
  talks, election...): "vor dem Buckingham Palace" or "nach dem Tod von Marx" is no anchor. Its
  day comes from the caller (`event_day`, e.g. `event_day_from_store`), never from a guess.
- Undated articles are never dropped silently: a filter keeps them unless asked not to, and
  re-ranking keeps every hit (undated ones neutral, or a little lower with `undated_weight`).

Measured (bench of 2,308 dated questions, sample set of 30): stripping the phrase from the
query helps everywhere; hard filters lose the questions about a time other than their
article's publication date and, excluding undated articles, those of undated articles; the
re-rank adds a little on top of stripping (R@5), never dropping a passage.
"""

from __future__ import annotations

import calendar
import dataclasses
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.dating import MONTHS

if TYPE_CHECKING:
    from qa.schema import Hit
    from qa.store import IndexStore

#: The measured choice (scripts/bench_question_time.py --write-params).
PARAMS_FILE = Path(__file__).parent / "data" / "question_time.json"

_MONTHS_EN = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
}
_ABBREV = {
    "jan": 1, "feb": 2, "mär": 3, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "okt": 10, "oct": 10, "nov": 11, "dez": 12, "dec": 12,
}
_MONTH_NAMES_DE = [""] + [m.capitalize() for m, _ in sorted(
    ((k, v) for k, v in MONTHS.items() if k != "jänner"), key=lambda kv: kv[1])]
_MONTH_NAMES_EN = [""] + [m.capitalize() for m, _ in sorted(_MONTHS_EN.items(),
                                                            key=lambda kv: kv[1])]

_MONTH = (
    r"(?:" + "|".join(sorted(set(MONTHS) | set(_MONTHS_EN), key=len, reverse=True))
    + r"|(?:" + "|".join(sorted(_ABBREV, key=len, reverse=True)) + r")\.)(?![\w])"
)
_YEAR = r"(?:19|20)\d{2}(?!\d)"
_ORD = r"(?:st|nd|rd|th)?"
# A date atom: a day (with or without year) or a month (with or without year).
_ATOM = (
    rf"(?:\d{{4}}-\d{{2}}-\d{{2}}"  # ISO day
    rf"|[0-3]?\d\.[01]?\d\.(?:{_YEAR})?"  # 10.01.2022, 10.1.
    rf"|[0-3]?\d\.\s*{_MONTH}(?:\s+{_YEAR})?"  # 10. Januar 2022
    rf"|{_MONTH}\s+[0-3]?\d{_ORD}(?![\d.])(?:,?\s+{_YEAR})?"  # December 10, 2021
    rf"|(?:the\s+)?[0-3]?\d{_ORD}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?"  # 10 December 2021
    rf"|{_MONTH}(?:,?\s+(?:of\s+)?{_YEAR})?)"  # Dezember 2021, May of 2012, Dezember
)
_DAY_ONLY = rf"(?:[0-3]?\d\.|(?:the\s+)?[0-3]?\d{_ORD})"
_ART = r"(?:(?:dem|den|der|the)\s+)?"
_B = r"(?<![\w-])"  # a phrase starts at a word start

_RANGES = [
    re.compile(rf"{_B}zwischen\s+{_ART}(?P<a>{_ATOM}|{_DAY_ONLY})\s+und\s+{_ART}(?P<b>{_ATOM})",
               re.I),
    re.compile(rf"{_B}between\s+{_ART}(?P<a>{_ATOM}|{_DAY_ONLY})\s+and\s+{_ART}(?P<b>{_ATOM})",
               re.I),
    re.compile(rf"{_B}(?:vom|von|ab\s+dem)\s+(?P<a>{_ATOM}|{_DAY_ONLY})\s*"
               rf"(?:bis(?:\s+(?:zum|zur|einschließlich))?|[-–])\s*(?P<b>{_ATOM})", re.I),
    re.compile(rf"{_B}from\s+{_ART}(?P<a>{_ATOM}|{_DAY_ONLY})\s*"
               rf"(?:to|until|till|through|[-–])\s*{_ART}(?P<b>{_ATOM})", re.I),
    re.compile(rf"{_B}(?P<a>[0-3]?\d\.?)\s*[-–]\s*(?P<b>[0-3]?\d\.\s*{_MONTH}(?:\s+{_YEAR})?"
               rf"|[0-3]?\d\s+{_MONTH}(?:,?\s+{_YEAR})?)", re.I),
    re.compile(rf"{_B}(?P<b0>{_MONTH})\s+(?P<a>[0-3]?\d)\s*[-–]\s*(?P<b>[0-3]?\d)"
               rf"(?:,?\s+(?P<y>{_YEAR}))?", re.I),
]
# before / after / on / in, then a date atom
_PREP = re.compile(
    rf"{_B}(?P<prep>vor\s+dem|vor\s+der|vor|bis\s+zum|bis\s+zur|bis|nach\s+dem|"
    rf"nach|seit\s+dem|seit|ab\s+dem|ab|am|im|in|before|prior\s+to|after|since|until|till|"
    rf"through|by|on|during)\s+(?P<a>{_ATOM})", re.I,
)
_PART = re.compile(
    rf"{_B}(?:(?P<pre>in|at|bis|until|by|seit|since|ab|from)\s+)?"
    rf"(?P<part>anfang|mitte|ende|early|mid|late|the\s+beginning\s+of|the\s+start\s+of|"
    rf"the\s+end\s+of|the\s+middle\s+of)[\s-]+(?P<a>{_MONTH}(?:\s+{_YEAR})?)", re.I,
)
# A bare atom counts only when it is complete (day or month *with* its year).
_BARE = re.compile(rf"{_B}(?P<a>{_ATOM})", re.I)

#: Head nouns of events a question can be anchored on (German: word endings, compounds too).
_EVENT_DE = (
    "gipfel", "treffen", "gespräch", "gespräche", "gesprächen", "telefonat", "konferenz",
    "verhandlung", "verhandlungen", "besuch", "wahl", "wahlen", "abstimmung", "sitzung",
    "beratung", "beratungen", "rede", "anruf", "schalte", "interview", "referendum",
)
_NOT_EVENT = {"auswahl", "qual", "gerede"}
_EVENT_EN = {
    "summit", "meeting", "meetings", "talks", "call", "conference", "visit", "election",
    "elections", "vote", "referendum", "session", "speech", "negotiations", "interview",
}
_EVENT = re.compile(rf"{_B}(?P<prep>vor|nach|seit|before|after|since)\s+(?:dem|der|den|the)\s+")
_LINKS = {"in", "im", "mit", "von", "zwischen", "of", "with", "between"}
_STOP = set(
    "in im mit von zwischen und der die das dem den des the of with between and a an".split()
)


@dataclass(frozen=True)
class Period:
    """A span of days a question asks about; `None` on a side means open."""

    start: str | None  # ISO day, inclusive
    end: str | None  # ISO day, inclusive
    text: str  # the phrase as it stands in the question
    anchor: str | None = None  # the event noun phrase of "nach dem Videogipfel", if any

    def label(self, lang: str = "de") -> str:
        """How the UI names the period: "Dezember 2021", "vor dem 10. Januar 2022"."""
        de = lang != "en"
        s = date.fromisoformat(self.start) if self.start else None
        e = date.fromisoformat(self.end) if self.end else None
        if s and e:
            if _month_start(s) and _month_end(e):
                first, last = _fmt_month(s, de), _fmt_month(e, de)
                return first if first == last else f"{first} {'bis' if de else 'to'} {last}"
            if s == e:
                return _fmt_day(s, de)
            if (s.year, s.month) == (e.year, e.month):
                tail = _fmt_day(e, de)
                return f"{s.day}.–{tail}" if de else f"{s.day}–{tail}"
            return f"{_fmt_day(s, de)} {'bis' if de else 'to'} {_fmt_day(e, de)}"
        if e:
            if _month_end(e):
                return f"{'bis' if de else 'until'} {_fmt_month(e, de)}"
            after = e + timedelta(days=1)
            return f"vor dem {_fmt_day(after, de)}" if de else f"before {_fmt_day(after, de)}"
        if s:
            if _month_start(s):
                return f"{'seit' if de else 'since'} {_fmt_month(s, de)}"
            return f"ab dem {_fmt_day(s, de)}" if de else f"from {_fmt_day(s, de)}"
        return "jederzeit" if de else "any time"

    def contains(self, article_date: str | None) -> bool | None:
        """Whether an article date (YYYY, YYYY-MM or YYYY-MM-DD) overlaps the period;
        None when the article is undated or its date unreadable."""
        span = _date_span(article_date)
        if span is None:
            return None
        first, last = span
        return not ((self.end and first > self.end) or (self.start and last < self.start))

    def days_outside(self, article_date: str | None) -> int | None:
        """How many days an article's date lies outside the period (0 inside; None undated)."""
        span = _date_span(article_date)
        if span is None:
            return None
        first, last = (date.fromisoformat(x) for x in span)
        if self.end and first > date.fromisoformat(self.end):
            return (first - date.fromisoformat(self.end)).days
        if self.start and last < date.fromisoformat(self.start):
            return (date.fromisoformat(self.start) - last).days
        return 0


def question_period(
    question: str,
    reference: date | None = None,
    event_day: Callable[[str], date | None] | None = None,
) -> Period | None:
    """The period a question asks about, or None.

    Explicit phrases win over event anchors, and the first phrase in the question wins among
    its kind. `reference` dates a day or month given without its year; `event_day` says when
    an anchor event ("Videogipfel", "Treffen in Genf") happened, or None when it is not known.
    """
    found = _explicit(question, reference)
    if found is not None:
        return found
    if event_day is None:
        return None
    for m in _EVENT.finditer(question):
        np = _event_phrase(question[m.end():])
        if np is None:
            continue
        day = event_day(np)
        if day is None:
            continue
        iso = day.isoformat()
        before = m.group("prep").lower() in {"vor", "before"}
        at = question.find(np, m.end())
        text = question[m.start():at + len(np)] if at >= 0 else m.group(0) + np
        return Period(None, iso, text, np) if before else Period(iso, None, text, np)
    return None


def strip_period(question: str, period: Period) -> str:
    """The question without its time phrase, as a search query.

    An event anchor stays: "Videogipfel" is what the question is about. A question that was
    only the phrase stays whole.
    """
    if period.anchor is not None or period.text not in question:
        return question
    head, _, tail = question.partition(period.text)
    head = re.sub(r"[\s,;:–-]+$", "", head)
    tail = re.sub(r"^[\s,;:–-]+", "", tail)
    out = f"{head} {tail}".strip() if head and tail and tail[0].isalnum() else head + tail
    out = re.sub(r"\s+([?.!,])", r"\1", re.sub(r"\s{2,}", " ", out)).strip()
    if not head and out:
        out = out[0].upper() + out[1:]
    return out if re.search(r"\w{2,}", out) else question


def rerank_by_period(
    hits: list[Hit],
    period: Period,
    weight: float,
    undated_weight: float = 0.0,
    scale_days: float = 0.0,
) -> list[Hit]:
    """Hits re-sorted with out-of-period dated hits' scores scaled down by up to `weight`.

    In-period hits keep their score. A dated hit outside is scaled by (1 - weight), or, with
    `scale_days` > 0, by (1 - weight * min(1, days outside / scale_days)): a report published
    the day after "am 7. Dezember" loses little. Undated hits are scaled by
    (1 - weight * undated_weight), 0 leaving them neutral. When no hit is dated inside the
    period, the period says nothing about these hits (a historical date, a typo) and they are
    returned unchanged. Returned hits carry the new score; ties keep their previous order.
    """
    inside = [period.contains(h.date) for h in hits]
    if weight <= 0 or not any(x is True for x in inside):
        return list(hits)

    def factor(hit: Hit, within: bool | None) -> float:
        if within is True:
            return 1.0
        if within is None:
            return 1.0 - weight * undated_weight
        share = 1.0
        if scale_days > 0:
            share = min(1.0, (period.days_outside(hit.date) or 0) / scale_days)
        return 1.0 - weight * share

    factors = [factor(h, x) for h, x in zip(hits, inside, strict=True)]
    order = sorted(range(len(hits)), key=lambda i: (-hits[i].score * factors[i], i))
    return [dataclasses.replace(hits[i], score=hits[i].score * factors[i]) for i in order]


def reference_day(dates: Iterable[str | None]) -> date | None:
    """The `reference` for `question_period`: the last day of the newest article date."""
    spans = [span for d in dates if (span := _date_span(d)) is not None]
    return date.fromisoformat(max(last for _, last in spans)) if spans else None


def event_day_from_store(store: IndexStore) -> Callable[[str], date | None]:
    """An `event_day` for `question_period`: the date of the earliest dated article naming
    the event (each content word of the phrase in its title or text, as a substring, so
    "Gipfel" finds "Videogipfel"). The earliest mention may announce the event rather than
    report it, so the day errs early. English phrases over German articles find nothing
    (None), and the period is then left out. Asked only when a question names an event."""

    @lru_cache(maxsize=64)
    def lookup(phrase: str) -> date | None:
        words = [w for w in re.findall(r"[\w-]+", phrase.lower()) if w not in _STOP and len(w) > 2]
        if not words:
            return None
        sql = "SELECT date FROM articles WHERE date IS NOT NULL AND date != ''"
        sql += "".join(" AND instr(lower(title || ' ' || text), ?) > 0" for _ in words)
        row = store.db.execute(sql + " ORDER BY date LIMIT 1", words).fetchone()
        span = _date_span(row[0]) if row else None
        return date.fromisoformat(span[0]) if span else None

    return lookup


def load_params(path: Path = PARAMS_FILE) -> dict[str, Any] | None:
    """The measured choice (variant, weight), or None when it was never measured."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


# --------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class _Atom:
    year: int | None
    month: int | None  # None: a day-only atom ("1." in "zwischen dem 1. und 10. Dezember")
    day: int | None


def _explicit(question: str, reference: date | None) -> Period | None:
    candidates: list[tuple[int, int, Period]] = []  # (start, -length, period)
    taken: list[tuple[int, int]] = []

    def add(m: re.Match[str], period: Period | None) -> None:
        taken.append((m.start(), m.end()))
        if period is not None:
            candidates.append((m.start(), -(m.end() - m.start()), period))

    def free(m: re.Match[str]) -> bool:
        return not any(m.start() < e and s < m.end() for s, e in taken)

    for pattern in _RANGES:
        for m in pattern.finditer(question):
            if free(m):
                add(m, _range(m, reference))
    for m in _PART.finditer(question):
        if free(m):
            add(m, _part(m, reference))
    for m in _PREP.finditer(question):
        if free(m) and _month_ok(m.group("a")):
            add(m, _prep(m, reference))
    for m in _BARE.finditer(question):
        if free(m) and _month_ok(m.group("a")):
            atom = _parse_atom(m.group("a"))
            if atom and atom.year is not None and atom.month is not None:
                add(m, _point(atom, m.group(0).strip(), reference))
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c[0], c[1]))[2]


def _range(m: re.Match[str], reference: date | None) -> Period | None:
    groups = m.groupdict()
    if groups.get("b0"):  # "December 1-10, 2021"
        year = groups.get("y") or ""
        a = _parse_atom(f"{groups['b0']} {groups['a']} {year}".strip())
        b = _parse_atom(f"{groups['b0']} {groups['b']} {year}".strip())
    else:
        a, b = _parse_atom(groups["a"]), _parse_atom(groups["b"])
    if a is None or b is None or b.month is None:
        return None
    if a.month is None:  # "1." before "10. Dezember 2021"
        a = _Atom(b.year, b.month, a.day)
    if a.year is None and b.year is not None:
        a = _Atom(b.year if (a.month, a.day or 1) <= (b.month, b.day or 31) else b.year - 1,
                  a.month, a.day)
    first, last = _bounds(a, reference), _bounds(b, reference)
    if first is None or last is None or first[0] > last[1]:
        return None
    return Period(first[0].isoformat(), last[1].isoformat(), m.group(0).strip())


def _part(m: re.Match[str], reference: date | None) -> Period | None:
    atom = _parse_atom(m.group("a"))
    bounds = _bounds(atom, reference) if atom else None
    if bounds is None:
        return None
    first, last = bounds
    part = re.sub(r"\s+", " ", m.group("part").lower())
    if part in {"anfang", "early", "the beginning of", "the start of"}:
        first, last = first, first.replace(day=10)
    elif part in {"mitte", "mid", "the middle of"}:
        first, last = first.replace(day=11), first.replace(day=20)
    else:
        first = first.replace(day=21)
    text = m.group(0).strip()
    pre = (m.group("pre") or "").lower()
    if pre in {"bis", "until", "by"}:  # "bis Ende Januar"
        return Period(None, last.isoformat(), text)
    if pre in {"seit", "since", "ab", "from"}:  # "seit Anfang Dezember"
        return Period(first.isoformat(), None, text)
    return Period(first.isoformat(), last.isoformat(), text)


def _prep(m: re.Match[str], reference: date | None) -> Period | None:
    prep = re.sub(r"\s+", " ", m.group("prep").lower())
    atom = _parse_atom(m.group("a"))
    if atom is None or atom.month is None:
        return None
    bounds = _bounds(atom, reference)
    if bounds is None:
        return None
    first, last = bounds
    text = m.group(0).strip()
    if prep in {"vor dem", "vor der", "vor", "before", "prior to"}:
        return Period(None, (first - timedelta(days=1)).isoformat(), text)
    if prep in {"bis zum", "bis zur", "bis", "until", "till", "through", "by"}:
        if prep == "by" and atom.day is None:
            return None
        return Period(None, last.isoformat(), text)
    if prep in {"nach dem", "nach", "after"}:
        return Period((last + timedelta(days=1)).isoformat(), None, text)
    if prep in {"seit dem", "seit", "ab dem", "ab", "since"}:
        return Period(first.isoformat(), None, text)
    if prep in {"am", "on"} and atom.day is None:
        return None
    return Period(first.isoformat(), last.isoformat(), text)  # am / im / in / on / during


def _point(atom: _Atom, text: str, reference: date | None) -> Period | None:
    bounds = _bounds(atom, reference)
    if bounds is None:
        return None
    return Period(bounds[0].isoformat(), bounds[1].isoformat(), text)


def _bounds(atom: _Atom, reference: date | None) -> tuple[date, date] | None:
    """First and last day of an atom; the year from `reference` when it has none."""
    if atom.month is None:
        return None
    year = atom.year
    if year is None:
        if reference is None:
            return None
        year = reference.year
        if (atom.month, atom.day or 1) > (reference.month, reference.day):
            year -= 1
    last_day = calendar.monthrange(year, atom.month)[1]
    if atom.day is None:
        return date(year, atom.month, 1), date(year, atom.month, last_day)
    if not 1 <= atom.day <= last_day:
        return None
    day = date(year, atom.month, atom.day)
    return day, day


_ISO_ATOM = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_NUM_ATOM = re.compile(rf"([0-3]?\d)\.([01]?\d)\.({_YEAR})?")
_DAY_DE = re.compile(rf"([0-3]?\d)\.\s*({_MONTH})(?:\s+({_YEAR}))?", re.I)
_DAY_EN1 = re.compile(rf"({_MONTH})\s+([0-3]?\d){_ORD}(?:,?\s+({_YEAR}))?", re.I)
_DAY_EN2 = re.compile(rf"(?:the\s+)?([0-3]?\d){_ORD}\s+(?:of\s+)?({_MONTH})(?:,?\s+({_YEAR}))?",
                      re.I)
_MONTH_ATOM = re.compile(rf"({_MONTH})(?:,?\s+(?:of\s+)?({_YEAR}))?", re.I)
_DAY_ONLY_ATOM = re.compile(rf"(?:the\s+)?([0-3]?\d)(?:\.|{_ORD})", re.I)


def _parse_atom(text: str) -> _Atom | None:
    text = text.strip()

    def yr(value: str | None) -> int | None:
        return int(value) if value else None

    if m := _ISO_ATOM.fullmatch(text):
        return _Atom(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if m := _NUM_ATOM.fullmatch(text):
        month = int(m.group(2))
        return _Atom(yr(m.group(3)), month, int(m.group(1))) if 1 <= month <= 12 else None
    if m := _DAY_DE.fullmatch(text):
        return _Atom(yr(m.group(3)), _month_number(m.group(2)), int(m.group(1)))
    if m := _DAY_EN1.fullmatch(text):
        return _Atom(yr(m.group(3)), _month_number(m.group(1)), int(m.group(2)))
    if m := _DAY_EN2.fullmatch(text):
        return _Atom(yr(m.group(3)), _month_number(m.group(2)), int(m.group(1)))
    if m := _MONTH_ATOM.fullmatch(text):
        return _Atom(yr(m.group(2)), _month_number(m.group(1)), None)
    if m := _DAY_ONLY_ATOM.fullmatch(text):
        return _Atom(None, None, int(m.group(1)))
    return None


def _month_number(name: str) -> int | None:
    key = name.lower().rstrip(".")
    return MONTHS.get(key) or _MONTHS_EN.get(key) or _ABBREV.get(key)


def _month_ok(atom_text: str) -> bool:
    """English "may"/"march" only capitalised; a month word alone is not enough when the
    rest of the atom is missing (checked by the callers)."""
    for word in re.findall(r"[A-Za-zÄÖÜäöü]+", atom_text):
        if word.lower() in {"may", "march"} and not word[0].isupper():
            return False
    return True


def _event_phrase(rest: str) -> str | None:
    """The anchor phrase at the start of `rest` (what follows "nach dem"), or None when no
    event noun heads it within three words.

    German keeps the head and its complement ("Treffen in Genf", modifiers are adjectives);
    English keeps its modifiers too ("video summit": they are the compound).
    """
    words = re.findall(r"[\w-]+|[^\w\s]", rest)[:8]
    for i, word in enumerate(words[:3]):
        if not re.fullmatch(r"[\w-]+", word) or word.lower() in _LINKS:
            return None
        low = word.lower()
        german = word[0].isupper() and low not in _NOT_EVENT and low.endswith(_EVENT_DE)
        if not (german or low in _EVENT_EN):
            continue
        end = i + 1
        # a complement: "in Genf", "zwischen Biden und Putin", "with Lavrov"
        if end + 1 < len(words) and words[end].lower() in _LINKS and words[end + 1][0].isupper():
            end += 2
            if end + 1 < len(words) and words[end].lower() in {"und", "and"} and (
                    words[end + 1][0].isupper()):
                end += 2
        first = i if german and low not in _EVENT_EN else 0
        return " ".join(words[first:end])
    return None


def _date_span(value: str | None) -> tuple[str, str] | None:
    """First and last ISO day of an article date (YYYY, YYYY-MM or YYYY-MM-DD)."""
    if not value:
        return None
    try:
        if len(value) == 10:
            date.fromisoformat(value)
            return value, value
        if len(value) == 7:
            y, m = int(value[:4]), int(value[5:7])
            return f"{value}-01", f"{value}-{calendar.monthrange(y, m)[1]:02d}"
        if len(value) == 4:
            return f"{value}-01-01", f"{value}-12-31"
    except ValueError:
        return None
    return None


def _month_start(day: date) -> bool:
    return day.day == 1


def _month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def _fmt_month(day: date, de: bool) -> str:
    return f"{(_MONTH_NAMES_DE if de else _MONTH_NAMES_EN)[day.month]} {day.year}"


def _fmt_day(day: date, de: bool) -> str:
    if de:
        return f"{day.day}. {_MONTH_NAMES_DE[day.month]} {day.year}"
    return f"{day.day} {_MONTH_NAMES_EN[day.month]} {day.year}"
