"""Article dates: read from stamps, bylines, datelines and metadata, never from the story."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.cleaning import clean_article
from qa.dating import byline_date, dateline_date, parse_user_date, stamp_date
from qa.evaluation.date_fixtures import date_fixtures, load, summary

FIXTURES = Path(__file__).parent / "fixtures" / "dates" / "headers.jsonl"


def test_the_fixture_set_is_large_and_balanced() -> None:
    items = load(FIXTURES)
    assert len(items) >= 40
    assert {i["lang"] for i in items} == {"de", "en"}
    assert sum(i["date"] is None for i in items) >= 15  # undated and misleading headers
    assert {i["origin"] for i in items} == {None, "metadata", "stamp", "byline", "dateline"}


def test_every_fixture_gets_the_date_it_states_and_no_other() -> None:
    results = date_fixtures(load(FIXTURES))
    wrong = [r for r in results if not r.correct]
    assert wrong == []
    assert summary(results)[0]["wrong_dates"] == 0


@pytest.mark.parametrize(
    ("line", "iso"),
    [
        ("Stand: 08.12.2021 01:21 Uhr", "2021-12-08"),
        ("Freitag, 21.01.2022 15:41 von dpa-AFX | Aufrufe: 171", "2022-01-21"),
        ("07. Dezember 2021", "2021-12-07"),
        ("Dec. 3, 2021", "2021-12-03"),
        ("Stand: 31.02.2022", None),  # no such day
        ("Treffen am 10. Januar 2022 in Genf", None),  # a headline, not a stamp
        ("Dezember 2021", None),  # no day: never invent the 1st
        ("2022", None),
    ],
)
def test_stamp_lines(line: str, iso: str | None) -> None:
    day = stamp_date(line)
    assert (day.isoformat() if day else None) == iso


def test_numeric_order_follows_the_language() -> None:
    assert str(stamp_date("Posted 12/03/2021", "MDY")) == "2021-12-03"
    assert str(stamp_date("Posted 12/03/2021", "DMY")) == "2021-03-12"
    assert str(stamp_date("03.02.2022", "MDY")) == "2022-02-03"  # dots are always day first


def test_datelines_need_their_year() -> None:
    assert str(dateline_date("BERLIN, 3. Februar 2022 – Bundeskanzler Scholz sagte ...")) == (
        "2022-02-03"
    )
    assert dateline_date("WASHINGTON, Dec 3 (Reuters) - Biden said ...", "MDY") is None
    assert dateline_date("GENF (dpa-AFX) - Die USA wollen ...") is None


def test_bylines_hold_names_not_sentences() -> None:
    assert str(byline_date("Von Anna Schmidt, 3. Februar 2022")) == "2022-02-03"
    assert byline_date("Von Montag an gilt seit dem 3. Februar 2022 eine neue Regel.") is None


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("2022-01-21", "2022-01-21"),
        ("2022-01-21T15:41:00+01:00", "2022-01-21"),
        ("2021-12", "2021-12"),
        ("21.01.2022", "2022-01-21"),
        ("Freitag, 21.01.2022 15:41", "2022-01-21"),
        ("am 7. Dezember 2021", "2021-12-07"),
        ("07. März 2022", "2022-03-07"),
        ("3. Februar 2022", "2022-02-03"),
        ("Dezember 2021", "2021-12"),
        ("Dec. 3, 2021", "2021-12-03"),
        ("31.02.2022", None),
        ("2021-13", None),
        ("gestern", None),
    ],
)
def test_filter_bounds_typed_by_a_user(value: str, iso: str | None) -> None:
    assert parse_user_date(value) == iso


def test_a_date_in_the_story_is_not_the_articles_date() -> None:
    cleaned = clean_article(
        "Ein Jahr danach\n\nAm 24.02.2022 begann der Angriff. Die Gespräche am 10. Januar 2022 "
        "waren gescheitert, sagte Scholz am Donnerstag in Berlin vor Journalisten."
    )
    assert (cleaned.date, cleaned.date_origin) == (None, None)


def test_the_format_date_wins_and_says_so() -> None:
    cleaned = clean_article("Titel\n\nStand: 08.12.2021\n\nText.", date_hint="2022-02-07")
    assert (cleaned.date, cleaned.date_origin) == ("2022-02-07", "metadata")
