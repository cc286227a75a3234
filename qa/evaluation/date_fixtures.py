"""Score article dating on the labelled header fixtures (tests/fixtures/dates/headers.jsonl).

Each fixture is a file as a user would drop it (text, HTML or jsonl) with the date it states,
or null when it states none. The two errors are not alike: a wrong date misfiles a story
under another day, a missed one only leaves it undated, so both are counted separately.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from qa.cleaning import clean_article
from qa.reading import RawArticle, read_path

_SUFFIX = {"txt": ".txt", "html": ".html", "jsonl": ".jsonl"}


@dataclass(frozen=True)
class DateResult:
    id: str
    lang: str
    expected: str | None
    expected_origin: str | None
    got: str | None
    origin: str | None

    @property
    def correct(self) -> bool:
        return (self.got, self.origin) == (self.expected, self.expected_origin)

    @property
    def wrong_date(self) -> bool:
        """A date that the header does not state (worse than none)."""
        return self.got is not None and self.got != self.expected


def load(path: Path) -> list[dict[str, str | None]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def date_fixtures(fixtures: Iterable[dict[str, str | None]]) -> list[DateResult]:
    """Read and clean every fixture exactly as indexing does, and compare the dates."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for item in fixtures:
            file = Path(tmp) / f"{item['id']}{_SUFFIX[str(item['format'])]}"
            file.write_text(str(item["text"]), encoding="utf-8")
            (raw,) = list(read_path(file, 10_000_000))
            assert isinstance(raw, RawArticle), f"{item['id']}: {raw}"
            cleaned = clean_article(raw.text, raw.title, raw.date, raw.source)
            results.append(DateResult(
                id=str(item["id"]), lang=str(item["lang"]), expected=item["date"],
                expected_origin=item["origin"], got=cleaned.date, origin=cleaned.date_origin,
            ))
    return results


def summary(results: list[DateResult]) -> list[dict[str, object]]:
    """Rows per group (all, de, en, dated, undated): n, correct, wrong dates, missed dates."""
    groups = {
        "all": results,
        "German": [r for r in results if r.lang == "de"],
        "English": [r for r in results if r.lang == "en"],
        "states a date": [r for r in results if r.expected is not None],
        "states none": [r for r in results if r.expected is None],
    }
    rows: list[dict[str, object]] = []
    for name, group in groups.items():
        rows.append({
            "group": name,
            "n": len(group),
            "correct": sum(r.correct for r in group),
            "accuracy": sum(r.correct for r in group) / len(group) if group else 0.0,
            "wrong_dates": sum(r.wrong_date for r in group),
            "missed": sum(r.expected is not None and r.got is None for r in group),
        })
    return rows
