"""Time in the question: the parser's periods on a fixture list, stripping, re-ranking, and
period filters that never drop undated articles silently."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from qa.question_time import (
    Period,
    question_period,
    reference_day,
    rerank_by_period,
    strip_period,
)
from qa.schema import Hit

REF = date(2022, 1, 21)  # the newest sample article (002, 21.01.2022)
EVENTS = {"Videogipfel": date(2021, 12, 8), "Treffen in Genf": date(2022, 1, 21),
          "video summit": date(2021, 12, 8)}
DATA = Path(__file__).resolve().parent.parent / "data"

# (question, expected (start, end) or None); reference REF, events from EVENTS
FIXTURES: list[tuple[str, tuple[str | None, str | None] | None]] = [
    # German, explicit
    ("Was forderte Lawrow im Dezember 2021?", ("2021-12-01", "2021-12-31")),
    ("Im Dezember 2021: Was forderte Lawrow?", ("2021-12-01", "2021-12-31")),
    ("Was geschah Anfang Januar 2022?", ("2022-01-01", "2022-01-10")),
    ("Was geschah Mitte Dezember 2021?", ("2021-12-11", "2021-12-20")),
    ("Was geschah Ende Dezember 2021?", ("2021-12-21", "2021-12-31")),
    ("Was wurde vor dem 10. Januar 2022 vereinbart?", (None, "2022-01-09")),
    ("Was sagte Biden nach dem 3. Dezember?", ("2021-12-04", None)),
    ("Was hat sich seit Januar geändert?", ("2022-01-01", None)),
    ("Was geschah zwischen dem 1. und 10. Dezember 2021?", ("2021-12-01", "2021-12-10")),
    ("Was geschah zwischen dem 20. Dezember und dem 5. Januar?", ("2021-12-20", "2022-01-05")),
    ("Was geschah vom 1. bis 10. Dezember 2021?", ("2021-12-01", "2021-12-10")),
    ("Was sagte Putin am 7. Dezember 2021?", ("2021-12-07", "2021-12-07")),
    ("Was sagte Putin am 07.12.2021?", ("2021-12-07", "2021-12-07")),
    ("Was geschah bis zum 10. Januar 2022?", (None, "2022-01-10")),
    ("Was geschah bis Ende Januar?", (None, "2022-01-31")),
    ("Was geschah seit Anfang Dezember 2021?", ("2021-12-01", None)),
    ("Welche Sanktionen gab es im Dezember?", ("2021-12-01", "2021-12-31")),
    ("Was geschah im Mai?", ("2021-05-01", "2021-05-31")),
    # English, explicit
    ("What did Lavrov demand in December 2021?", ("2021-12-01", "2021-12-31")),
    ("What happened before January 10, 2022?", (None, "2022-01-09")),
    ("What happened after 3 December 2021?", ("2021-12-04", None)),
    ("What happened since January 2022?", ("2022-01-01", None)),
    ("What happened on December 7, 2021?", ("2021-12-07", "2021-12-07")),
    ("What happened between December 1 and December 10, 2021?", ("2021-12-01", "2021-12-10")),
    ("What happened in early December 2021?", ("2021-12-01", "2021-12-10")),
    ("What happened in late January?", ("2022-01-21", "2022-01-31")),
    ("What happened in mid-December 2021?", ("2021-12-11", "2021-12-20")),
    ("What happened until the end of January 2022?", (None, "2022-01-31")),
    ("What happened December 1-10, 2021?", ("2021-12-01", "2021-12-10")),
    ("What happened in May?", ("2021-05-01", "2021-05-31")),
    ("Which storm hit Jacksonville in May of 2012?", ("2012-05-01", "2012-05-31")),
    # event anchors
    ("Mit wem beriet sich Biden nach dem Videogipfel?", ("2021-12-08", None)),
    ("Was sagte Blinken vor dem Treffen in Genf?", (None, "2022-01-21")),
    ("What did Biden say after the video summit?", ("2021-12-08", None)),
    ("Was geschah nach dem Gipfel in Rom?", None),  # event day unknown: no period
    # negatives
    ("Wie viele Menschen leben im Donbass?", None),
    ("Was geschah 1989?", None),  # a bare year names an event's time, not the articles'
    ("Welche Sanktionen wurden 2014 verhängt?", None),
    ("Welche Rolle spielte die NATO?", None),
    ("Who may seek changes in the law?", None),
    ("How did the troops march on the capital?", None),
    ("Wer entwarf die Gedenkstätte für die Opfer des 11. September?", None),
    ("Wer zählt vor dem Snap das Down beim Kanadischen Football?", None),
    ("Wie hieß das Gebäude vor dem Buckingham Palace?", None),
    ("Wer hat Das Kapital nach dem Tod von Marx veröffentlicht?", None),
    ("Was forderte Lawrow am Donnerstag?", None),
    ("Wie viele Soldaten verlegte Russland vor zwei Wochen?", None),
    ("Was kostet ein Flug nach Genf?", None),
]


@pytest.mark.parametrize(("question", "expected"), FIXTURES)
def test_question_period_fixtures(
    question: str, expected: tuple[str | None, str | None] | None
) -> None:
    period = question_period(question, REF, EVENTS.get)
    got = (period.start, period.end) if period else None
    assert got == expected


def test_fixture_precision_and_size() -> None:
    """At least 30 phrases, German and English, with negatives; all exact."""
    assert len(FIXTURES) >= 30
    assert sum(expected is None for _, expected in FIXTURES) >= 10
    exact = 0
    for question, expected in FIXTURES:
        period = question_period(question, REF, EVENTS.get)
        exact += ((period.start, period.end) if period else None) == expected
    assert exact == len(FIXTURES)


def test_no_year_invented_without_reference() -> None:
    assert question_period("Was geschah im Dezember?") is None
    assert question_period("Was geschah nach dem 3. Dezember?") is None
    assert question_period("Was geschah im Dezember 2021?") == Period(
        "2021-12-01", "2021-12-31", "im Dezember 2021")


def test_yearless_takes_the_latest_not_after_reference() -> None:
    period = question_period("Was geschah im Februar?", date(2022, 1, 21))
    assert period is not None and period.start == "2021-02-01"
    period = question_period("Was geschah am 21. Januar?", date(2022, 1, 21))
    assert period is not None and period.start == "2022-01-21"


def test_event_anchor_needs_event_day() -> None:
    question = "Mit wem beriet sich Biden nach dem Videogipfel?"
    assert question_period(question, REF) is None
    assert question_period(question, REF, lambda _: None) is None
    asked: list[str] = []

    def lookup(phrase: str) -> date | None:
        asked.append(phrase)
        return date(2021, 12, 8)

    period = question_period(question, REF, lookup)
    assert asked == ["Videogipfel"]
    assert period == Period("2021-12-08", None, "nach dem Videogipfel", "Videogipfel")


def test_explicit_date_wins_over_anchor() -> None:
    period = question_period("Was sagte Biden nach dem Videogipfel im Januar 2022?", REF,
                             EVENTS.get)
    assert period is not None and (period.start, period.end) == ("2022-01-01", "2022-01-31")


def test_labels() -> None:
    assert Period("2021-12-01", "2021-12-31", "").label() == "Dezember 2021"
    assert Period("2021-12-01", "2021-12-31", "").label("en") == "December 2021"
    assert Period(None, "2022-01-09", "").label() == "vor dem 10. Januar 2022"
    assert Period(None, "2022-01-09", "").label("en") == "before 10 January 2022"
    assert Period("2021-12-04", None, "").label() == "ab dem 4. Dezember 2021"
    assert Period("2022-01-01", None, "").label() == "seit Januar 2022"
    assert Period("2021-12-07", "2021-12-07", "").label() == "7. Dezember 2021"
    assert Period("2021-12-01", "2021-12-10", "").label() == "1.–10. Dezember 2021"
    assert Period("2021-12-01", "2022-01-31", "").label() == "Dezember 2021 bis Januar 2022"


def test_strip_period() -> None:
    def strip(question: str) -> str:
        period = question_period(question, REF, EVENTS.get)
        assert period is not None
        return strip_period(question, period)

    assert strip("Was forderte Lawrow im Dezember 2021?") == "Was forderte Lawrow?"
    assert strip("Im Dezember 2021: was forderte Lawrow?") == "Was forderte Lawrow?"
    assert strip("What happened in early December 2021?") == "What happened?"
    assert strip("Was sagte Putin am 7. Dezember 2021 zu Biden?") == "Was sagte Putin zu Biden?"
    # the event is what the question is about: an anchor stays in the query
    assert strip("Mit wem beriet sich Biden nach dem Videogipfel?") == (
        "Mit wem beriet sich Biden nach dem Videogipfel?")
    only = "Im Dezember 2021?"
    period = question_period(only, REF)
    assert period is not None and strip_period(only, period) == only


def test_contains_month_dates_and_undated() -> None:
    period = Period("2021-12-07", "2021-12-07", "")
    assert period.contains("2021-12-07") is True
    assert period.contains("2021-12") is True  # month-only date overlaps
    assert period.contains("2021-12-08") is False
    assert period.contains(None) is None
    assert period.days_outside("2021-12-08") == 1
    assert Period(None, "2021-12-31", "").contains("2022-01-21") is False
    assert Period("2022-01-01", None, "").contains("2022-01-21") is True


def _hit(chunk_id: int, score: float, day: str | None) -> Hit:
    return Hit(chunk_id=chunk_id, article_id=str(chunk_id), ordinal=0, start=0, end=1, text="x",
               title="t", date=day, source=None, path=f"{chunk_id}.txt", score=score)


def test_rerank_demotes_out_of_period_keeps_undated() -> None:
    period = Period("2021-12-01", "2021-12-31", "im Dezember 2021")
    hits = [_hit(1, 0.18, "2022-01-21"), _hit(2, 0.16, None), _hit(3, 0.15, "2021-12-08"),
            _hit(4, 0.10, "2021-12")]
    out = rerank_by_period(hits, period, weight=0.5)
    assert [h.chunk_id for h in out] == [2, 3, 4, 1]
    assert out[-1].score == pytest.approx(0.09)
    assert [h.chunk_id for h in rerank_by_period(hits, period, weight=0.0)] == [1, 2, 3, 4]
    # an undated weight demotes undated hits too
    assert [h.chunk_id for h in rerank_by_period(hits, period, 1.0, undated_weight=0.5)] == [
        3, 4, 2, 1]
    # nothing is dropped
    assert sorted(h.chunk_id for h in out) == [1, 2, 3, 4]


def test_rerank_scale_spares_near_misses() -> None:
    period = Period("2021-12-07", "2021-12-07", "am 7. Dezember 2021")
    hits = [_hit(1, 0.18, "2021-12-08"), _hit(2, 0.17, "2021-12-07"), _hit(3, 0.16, "2022-06-01")]
    out = rerank_by_period(hits, period, weight=1.0, scale_days=30)
    assert [h.chunk_id for h in out] == [1, 2, 3]  # a day late: scaled by 29/30 only
    assert out[0].score == pytest.approx(0.18 * (1 - 1 / 30))
    assert out[2].score == 0.0
    assert [h.chunk_id for h in rerank_by_period(hits, period, weight=1.0)] == [2, 1, 3]


def test_rerank_unchanged_when_nothing_in_period() -> None:
    period = Period("1981-06-01", "1981-06-30", "im Juni 1981")
    hits = [_hit(1, 0.18, "2022-01-21"), _hit(2, 0.16, None)]
    assert [h.chunk_id for h in rerank_by_period(hits, period, 1.0)] == [1, 2]


def test_reference_day() -> None:
    assert reference_day(["2021-12", "2022-01-21", None]) == date(2022, 1, 21)
    assert reference_day(["2021-12"]) == date(2021, 12, 31)
    assert reference_day([None]) is None


def test_time_questions_file_parses_as_labelled() -> None:
    """data/time_questions.jsonl: every question's period is what its row says."""
    rows = [json.loads(line) for line in (DATA / "time_questions.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 25
    articles = {p.name for p in (DATA / "articles").glob("*.txt")}
    anchors = {"Videogipfel": date(2021, 12, 8), "Treffen mit Blinken": date(2021, 12, 1),
               "video summit": date(2021, 12, 8)}
    for row in rows:
        docs = row["doc"] if isinstance(row["doc"], list) else [row["doc"]]
        contexts = row["context"] if isinstance(row["context"], list) else [row["context"]]
        for doc, context in zip(docs, contexts, strict=True):
            assert doc in articles
            assert context in (DATA / "articles" / doc).read_text(encoding="utf-8"), row["id"]
        period = question_period(row["question"], REF, anchors.get)
        assert period is not None, row["id"]
        if "anchor" in row:
            assert period.anchor == row["anchor"], row["id"]
        else:
            assert (period.start, period.end) == (
                row["period"]["start"], row["period"]["end"]), row["id"]
    undated_gold = [r for r in rows if any(str(d).startswith(("000", "003")) for d in (
        r["doc"] if isinstance(r["doc"], list) else [r["doc"]]))]
    assert len(undated_gold) >= 5


