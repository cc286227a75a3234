"""Relative days resolved against the publication day, measured on the labelled fixtures."""

from __future__ import annotations

import importlib.util
import json
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest

from qa.relative_days import RelativeDay, annotate_relative_days, resolve_relative_days

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests/fixtures/dates/relative.jsonl"
ISSUE = "Blinken sagte am Donnerstag in Stockholm nach einem Treffen mit Lawrow, man sei besorgt."


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_relative_days", REPO / "scripts/bench_relative_days.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _days(text: str, published: str | None, lang: str | None = None) -> list[tuple[str, str]]:
    return [(r.text, r.day.isoformat()) for r in resolve_relative_days(text, published, lang)]


def test_fixture_set_is_large_labelled_and_bilingual() -> None:
    items = [json.loads(line) for line in FIXTURES.read_text(encoding="utf-8").splitlines()]
    assert len(items) >= 60
    assert {i["lang"] for i in items} == {"de", "en"}
    assert len({i["id"] for i in items}) == len(items)
    negatives = [i for i in items if not i["expect"]]
    assert len(negatives) >= 20
    assert any(i["published"] is None for i in negatives)
    assert any(i["published"] and len(i["published"]) == 7 for i in negatives)
    for item in items:
        assert item["kind"] and item["why"]
        for exp in item["expect"]:
            assert exp["text"] in item["text"], item["id"]
            date.fromisoformat(exp["day"])


def test_accuracy_on_fixtures_and_no_wrong_dates_on_negatives() -> None:
    bench = _bench()
    rows = [bench.score(item) for item in bench.load()]
    accuracy = sum(r["correct"] for r in rows) / len(rows)
    assert accuracy >= 0.95, [r["id"] for r in rows if not r["correct"]]
    negatives = [r for r in rows if r["kind"] in ("negative", "explicit_date")]
    assert negatives and all(not r["wrong"] for r in negatives), [
        (r["id"], r["wrong"]) for r in negatives if r["wrong"]]


def test_issue_example() -> None:
    found = resolve_relative_days(ISSUE, "2021-12-03")
    assert [(r.text, r.day, r.kind) for r in found] == [
        ("am Donnerstag", date(2021, 12, 2), "weekday")]
    assert ISSUE[found[0].start:found[0].end] == "am Donnerstag"
    assert "am Donnerstag [2. Dezember 2021] in Stockholm" in annotate_relative_days(
        ISSUE, "2021-12-03")


@pytest.mark.parametrize("published", [None, "", "2021-12", "2021", "2021-13-45", "Dezember"])
def test_nothing_without_a_full_publication_day(published: str | None) -> None:
    assert resolve_relative_days(ISSUE, published) == []
    assert annotate_relative_days(ISSUE, published) == ISSUE


def test_a_timestamp_counts_as_its_day() -> None:
    assert _days(ISSUE, "2021-12-03T09:15:00+01:00") == [("am Donnerstag", "2021-12-02")]


def test_labels() -> None:
    day = RelativeDay(0, 13, "am Donnerstag", date(2021, 12, 2), "weekday")
    assert day.label() == day.label("de") == "2. Dezember 2021"
    assert day.label("en") == "December 2, 2021"
    night = RelativeDay(0, 23, "In der Nacht zu Freitag", date(2021, 12, 3), "night_to")
    assert night.label("de") == "Nacht zum 3. Dezember 2021"
    assert night.label("en") == "night into December 3, 2021"


def test_annotate_english_and_several_expressions() -> None:
    text = "Ryabkov said on Friday that Moscow would not budge at Monday's talks in Geneva."
    assert annotate_relative_days(text, "2022-01-07") == (
        "Ryabkov said on Friday [January 7, 2022] that Moscow would not budge at "
        "Monday's [January 10, 2022] talks in Geneva.")
    assert annotate_relative_days("Keine Tage hier.", "2022-01-07") == "Keine Tage hier."


def test_same_weekday_is_the_publication_day_in_both_tenses() -> None:
    assert _days("Biden und Putin sprachen am Dienstag.", "2021-12-07") == [
        ("am Dienstag", "2021-12-07")]
    assert _days("Biden und Putin wollen am Dienstag sprechen.", "2021-12-07") == [
        ("am Dienstag", "2021-12-07")]
    assert _days("Sie wollen am kommenden Dienstag sprechen.", "2021-12-07") == [
        ("am kommenden Dienstag", "2021-12-14")]
    assert _days("Sie hatten am vergangenen Dienstag gesprochen.", "2021-12-07") == [
        ("am vergangenen Dienstag", "2021-11-30")]


def test_tense_is_read_per_sentence() -> None:
    passage = ("Die Nato-Außenminister berieten am Freitag per Video. "
               "Am Mittwoch soll der Nato-Russland-Rat tagen.")
    assert _days(passage, "2022-01-07") == [("am Freitag", "2022-01-07"),
                                           ("Am Mittwoch", "2022-01-12")]


def test_year_boundary_and_night() -> None:
    assert _days("Am Freitag hatte Scholz gesprochen.", "2022-01-03") == [
        ("Am Freitag", "2021-12-31")]
    found = resolve_relative_days("In der Nacht zu Freitag gab es Angriffe.", "2021-12-03")
    assert [(r.day, r.kind) for r in found] == [(date(2021, 12, 3), "night_to")]


def test_not_relative_days() -> None:
    for text in ("Der Bundestag tagt mittwochs.", "In der Sonntagsfrage liegt die SPD vorn.",
                 "Das sagte Scholz der „Bild am Sonntag“.", "Karfreitag ist ein stiller Tag.",
                 "Geöffnet Mo. bis Fr.", "Am Donnerstag, 2. Dezember, trafen sie sich.",
                 "Officials fear an attack in May or March.", "Talks are held every Friday."):
        assert resolve_relative_days(text, "2021-12-03") == [], text


def test_language_detected_when_not_given() -> None:
    text = "Blinken will meet Lavrov in Geneva on Friday."
    assert _days(text, "2022-01-19") == [("on Friday", "2022-01-21")]
    assert annotate_relative_days(text, "2022-01-19").endswith("Friday [January 21, 2022].")
