"""Cleaning of the five real sample scrapes, and the date/source helpers behind it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from qa.cleaning import Cleaned, clean_article
from qa.reading import RawArticle, read_path

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "articles"

#: Site furniture seen in the scrapes; none of it may survive cleaning.
BOILERPLATE = [
    "Copyright AFP/Archiv",
    "Anatolii STEPANOV",
    "Melden Sie sich für unseren Newsletter an",
    "Newsletter",
    "Aktuelle Beiträge",
    "Exklusiv Interviews",
    "Werbe-E-Mails",
    "Quelle: AFP",
    "Spitzengespräch zwischen …",
    "Werbung",
    "Mehr Nachrichten",
    "ARIVA.DE",
    "Aufrufe",
    "Datenschutzhinweise",
    "Andere Nutzer interessierte auch",
    "Leave a Reply",
    "source site",
    "Berichterstattung aus Moskau beigetragen",
    "Foto: dpa",
    "Olivier Douliery",
    "pixabay",
    "Die Flagge der Ukraine.",
    "| REUTERS",
    "per Video mit dem russischen Präsidenten Putin.",
    "Stand: 08.12.2021",
    "Über dieses Thema berichteten",
    "/cy/DP/stw",
    "(peng/AFP/dpa)",
    "date 2021-12",
]


@dataclass(frozen=True)
class Expected:
    prefix: str
    title: str
    date: str | None
    source: str | None
    first: str  # the body starts with this (first real sentence, whole)
    last: str  # ... and ends with this (last real sentence, whole)


EXPECTED = [
    Expected(
        "000",
        "Spitzengespräch zwischen Biden und Putin über Ukraine-Konflikt zeichnet sich ab",
        None,
        "AFP",
        "Wegen des sich zuspitzenden Ukraine-Konflikts könnte schon bald ein Austausch auf "
        "höchster Ebene zwischen den USA und Russland stattfinden:",
        "Der ukrainische Geheimdienst SBU dementierte den Vorfall und sprach von “gefälschten” "
        "Anschuldigungen.",
    ),
    Expected(
        "001",
        "Ukraine-Frage: USA stimmen sich vor Russland-Gesprächen mit europäischen Verbündeten ab",
        "2021-12",
        "AFP/dpa",
        "Washington Angesichts der Spannungen um die Ukraine hat US-Präsident Biden kurzfristig "
        "ein Telefonat mit Putin angekündigt.",
        "Die USA, die 2018 unter dem damaligen Präsidenten Donald Trump ausgestiegen waren, sind "
        "an den Gesprächen nur indirekt beteiligt.",
    ),
    Expected(
        "002",
        "ROUNDUP 2/Ukraine-Konflikt: USA und Russland setzen Krisengespräche fort",
        "2022-01-21",
        "dpa-AFX",
        "GENF (dpa-AFX) - Die USA wollen angesichts der Spannungen im Ukraine-Konflikt in der "
        "kommenden Woche auf Russlands Sorgen um die Sicherheit in Europa schriftlich antworten.",
        "Beobachter auch in der Ukraine hatten erklärt, dass nichts auf Kriegsvorbereitungen "
        "hindeute.",
    ),
    Expected(
        "003",
        "Blinken tauscht Warnungen mit Russlands Lawrow über die Ukraine und die NATO aus",
        None,
        None,
        "WASHINGTON – Außenminister Antony J. Blinken sagte am Donnerstag, Präsident Biden werde",
        "sagte jedoch, “es ist nicht zu spät für den Iran, seinen Kurs umzukehren”.",
    ),
    Expected(
        "004",
        "Videogipfel zu Ukraine-Konflikt Dialog ohne Zugeständnisse",
        "2021-12-08",
        "tagesschau",
        "US-Präsident Biden und der russische Präsident Putin haben über den Ukraine-Konflikt "
        "gesprochen.",
        "Im Falle eines Angriffs durch die Ukraine sähe Russlands Militärdoktrin klar einen "
        "Einmarsch vor - weil im Donbass auch viele russische Staatsbürger leben.",
    ),
]


#: Where each sample states its date: 001 a scraper's "date 2021-12", 002 the dpa-AFX stamp
#: line, 004 the tagesschau "Stand:" line; 000 and 003 state none ("am Donnerstag" only).
ORIGINS = {"000": None, "001": "stamp", "002": "stamp", "003": None, "004": "stamp"}


def clean_sample(prefix: str) -> Cleaned:
    (path,) = SAMPLES.glob(f"{prefix}_*.txt")
    (raw,) = read_path(path, 10_000_000)
    assert isinstance(raw, RawArticle)
    return clean_article(raw.text, raw.title, raw.date, raw.source)


def test_every_sample_has_an_expectation() -> None:
    assert sorted(p.name[:3] for p in SAMPLES.glob("*.txt")) == [e.prefix for e in EXPECTED]


@pytest.mark.parametrize("expected", EXPECTED, ids=[e.prefix for e in EXPECTED])
def test_sample_metadata(expected: Expected) -> None:
    cleaned = clean_sample(expected.prefix)
    assert cleaned.title == expected.title
    assert cleaned.date == expected.date
    assert cleaned.date_origin == ORIGINS[expected.prefix]
    assert cleaned.source == expected.source


@pytest.mark.parametrize("expected", EXPECTED, ids=[e.prefix for e in EXPECTED])
def test_sample_first_and_last_sentences_are_kept_whole(expected: Expected) -> None:
    text = clean_sample(expected.prefix).text
    assert text.startswith(expected.first)
    assert text.endswith(expected.last)


@pytest.mark.parametrize("expected", EXPECTED, ids=[e.prefix for e in EXPECTED])
def test_sample_boilerplate_is_gone(expected: Expected) -> None:
    cleaned = clean_sample(expected.prefix)
    left = [b for b in BOILERPLATE if b in cleaned.text or b in cleaned.title]
    assert left == []
    # the title is metadata, not repeated as the body's first paragraph
    assert not cleaned.text.startswith(cleaned.title)


@pytest.mark.parametrize("expected", EXPECTED, ids=[e.prefix for e in EXPECTED])
def test_sample_body_lines_pass_through_verbatim(expected: Expected) -> None:
    """Cleaning drops whole lines; every kept paragraph is a line of the scrape, unchanged
    (apart from trailing spaces and the dpa author codes cut from the last one)."""
    (path,) = SAMPLES.glob(f"{expected.prefix}_*.txt")
    source_lines = {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    paragraphs = clean_sample(expected.prefix).text.split("\n\n")
    assert len(paragraphs) >= 5
    changed = [p for p in paragraphs if p not in source_lines]
    if expected.prefix == "002":
        assert changed == [paragraphs[-1]]
        assert paragraphs[-1] + "/cy/DP/stw" in source_lines
    else:
        assert changed == []


def test_inner_subheadings_and_quotes_are_kept() -> None:
    text = clean_sample("004").text
    assert "\n\nWeiter im Gespräch bleiben\n\n" in text
    assert 'Sullivan sagte: "Es war ein nützliches Meeting."' in text


def test_hints_from_the_format_win_over_the_text() -> None:
    cleaned = clean_article(
        "Stand: 08.12.2021 01:21 Uhr\n\nDer Text des Artikels steht hier.\n",
        title="Ein Titel",
        date_hint="2022-02-07T08:30:00Z",
        source_hint="Beispiel-Nachrichten",
    )
    assert (cleaned.title, cleaned.date, cleaned.source) == (
        "Ein Titel", "2022-02-07", "Beispiel-Nachrichten"
    )
    assert cleaned.text == "Der Text des Artikels steht hier."


def test_an_unparseable_date_hint_is_ignored() -> None:
    cleaned = clean_article("Titel\n\nStand: 08.12.2021\n\nText.", date_hint="irgendwann")
    assert cleaned.date == "2021-12-08"


def test_caption_with_agency_credit_is_dropped_but_story_lines_are_not() -> None:
    text = (
        "Ein Titel ohne Punkt\n\n"
        "Demonstranten vor dem Kanzleramt. | REUTERS\n\n"
        "Reuters berichtete am Montag über die Demonstration in Berlin.\n\n"
        "Berlin (dpa) - Tausende Menschen haben demonstriert.\n"
    )
    cleaned = clean_article(text)
    assert cleaned.title == "Ein Titel ohne Punkt"
    assert "Kanzleramt" not in cleaned.text
    assert cleaned.text.startswith("Reuters berichtete am Montag")
    assert cleaned.text.endswith("Tausende Menschen haben demonstriert.")
    assert cleaned.source == "dpa"


def test_a_dated_dateline_names_its_agency() -> None:
    cleaned = clean_article("HELSINKI, 3. Dezember 2021 (AFP) – Der finnische Außenminister "
                            "Pekka Haavisto empfing am Donnerstag seinen US-Kollegen.", "T")
    assert (cleaned.date, cleaned.date_origin, cleaned.source) == ("2021-12-03", "dateline", "AFP")
