"""The citation verifier on crafted answers: right, wrong, shifted, missing, unsupported."""

from __future__ import annotations

import pytest

from qa.citations import CitationVerifier, parse_markers, render, split_answer
from qa.embedding import Embedder
from qa.schema import AnswerSentence, Hit
from qa.settings import Settings
from qa.support import SupportScorer, numbers, stated_numbers

SUMMIT = (
    "Putin und Biden hatten vor dem Hintergrund wachsender Spannungen im Ukraine-Konflikt gut "
    "zwei Stunden gesprochen. Der Dialog sei sachlich und offen gewesen, teilte der Kreml mit."
)
LAWROW = (
    "Lawrow forderte im Gespräch mit dem US-Außenminister “langfristige Sicherheitsgarantien”, "
    "die eine Nato-Osterweiterung ausschließen. Moskau wolle eine rechtlich verbindliche Zusage."
)
GENEVA = (
    "Sie vereinbarten bei dem Treffen, das mit anderthalb Stunden etwas schneller als erwartet "
    "über die Bühne ging, dass sie weiter an einer friedlichen Lösung der Krise interessiert seien."
)
PREFIX = "Einleitung des Artikels. "


def _hit(n: int, text: str, title: str | None = None) -> Hit:
    return Hit(
        chunk_id=n, article_id=f"a{n}", ordinal=0, start=len(PREFIX), end=len(PREFIX) + len(text),
        text=text, title=title or f"Artikel {n}", date="2021-12-08", source="dpa",
        path=f"/x/{n}.txt", score=1.0,
    )


HITS = [_hit(1, SUMMIT, "Videogipfel: Biden droht Putin mit Sanktionen"),
        _hit(2, LAWROW, "Lawrow trifft Blinken"), _hit(3, GENEVA, "Treffen in Genf")]


@pytest.fixture(scope="module")
def verifier() -> CitationVerifier:
    settings = Settings()
    return CitationVerifier(SupportScorer(Embedder(settings)), settings.support_threshold)


def verify(verifier: CitationVerifier, answer: str) -> list[AnswerSentence]:
    return verifier.verify(split_answer(answer, len(HITS)), HITS)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Satz [1].", [1]),
        ("Satz [1, 2].", [1, 2]),
        ("Satz [1][3].", [1, 3]),
        ("Satz [Quelle 2].", [2]),
        ("Satz [1-3].", [1, 2, 3]),
        ("Satz 【2】.", [2]),
        ("Satz [^3].", [3]),
        ("Satz [7].", []),  # out of range: dropped
        ("Satz [0].", []),
    ],
)
def test_parse_markers(text: str, numbers: list[int]) -> None:
    stripped, cited = parse_markers(text, 3)
    assert cited == numbers
    assert stripped == "Satz."


def test_markers_after_the_period_belong_to_the_sentence_before() -> None:
    parsed = split_answer("Erstens gilt A. [2] Zweitens gilt B [1].", 3)
    assert [(p.text, p.cited) for p in parsed] == [
        ("Erstens gilt A.", [2]),
        ("Zweitens gilt B.", [1]),
    ]


def test_correct_citation_is_kept_with_the_exact_span(verifier: CitationVerifier) -> None:
    [sentence] = verify(verifier, "Der Videogipfel dauerte gut zwei Stunden [1].")
    assert sentence.verified and not sentence.repaired
    [citation] = sentence.citations
    assert citation.number == 1
    article = PREFIX + SUMMIT
    assert article[citation.start:citation.end] == citation.quote
    assert "gut zwei Stunden" in citation.quote
    assert "Kreml" not in citation.quote  # the supporting sentence, not the whole passage


def test_wrong_citation_is_moved_to_the_supporting_passage(verifier: CitationVerifier) -> None:
    [sentence] = verify(verifier, "Lawrow forderte langfristige Sicherheitsgarantien [1].")
    assert sentence.verified and sentence.repaired
    assert [c.number for c in sentence.citations] == [2]


def test_shifted_citations_are_repaired(verifier: CitationVerifier) -> None:
    # the model numbered off by one: each claim cites its neighbour's passage
    sentences = verify(
        verifier,
        "Biden und Putin sprachen gut zwei Stunden [2]. "
        "Das Treffen in Genf dauerte anderthalb Stunden [1].",
    )
    assert [[c.number for c in s.citations] for s in sentences] == [[1], [3]]
    assert all(s.repaired for s in sentences)


def test_missing_citation_is_added(verifier: CitationVerifier) -> None:
    [sentence] = verify(verifier, "Moskau wolle eine rechtlich verbindliche Zusage.")
    assert sentence.verified and not sentence.repaired
    assert [c.number for c in sentence.citations] == [2]


def test_unsupported_sentence_is_marked_unverified(verifier: CitationVerifier) -> None:
    # the answer service then leaves it out (tests/test_claim_check.py)
    sentences = verify(
        verifier,
        "Der Videogipfel dauerte gut zwei Stunden [1]. "
        "Biden reiste im März 2022 zu einem Staatsbesuch nach Peking [1].",
    )
    assert sentences[0].verified
    assert not sentences[1].verified and sentences[1].citations == []
    assert render(sentences).startswith("Der Videogipfel dauerte gut zwei Stunden [1].")
    assert "Peking." in render(sentences)  # kept, but without a citation


def test_a_changed_number_is_not_supported(verifier: CitationVerifier) -> None:
    # every word of the sentence is in passage 1, only the number is wrong
    sentences = verify(
        verifier,
        "Putin und Biden hatten gut zwei Stunden gesprochen [1]. "
        "Putin und Biden hatten gut 5 Stunden gesprochen [1].",
    )
    assert sentences[0].verified  # "zwei" in the passage backs the digit-free claim
    assert not sentences[1].verified and sentences[1].citations == []
    [digits] = verify(verifier, "Putin und Biden hatten gut 2 Stunden gesprochen [1].")
    assert digits.verified  # the digit 2 is found as the word "zwei"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100.000 Soldaten, 100 000 Soldaten, 100\u202f000 Soldaten", {"100000"}),
        ("2,5 Prozent oder 2.5 percent", {"2.5"}),
        ("am 08.12.2021", {"8", "12", "2021"}),
        ("am 3. Mai 1981.", {"3", "1981"}),
        ("1,000 people", {"1000"}),
        ("um 21:30 Uhr, um 21.30 Uhr", {"21.30"}),  # one time, as German writes it either way
        ("es stand 2:1", {"2", "1"}),  # a score, not a time
        ("keine Zahl", set()),
    ],
)
def test_numbers_are_normalised(text: str, expected: set[str]) -> None:
    assert numbers(text) == expected


def missing_numbers(claim: str, evidence: str) -> set[str]:
    return numbers(claim) - stated_numbers(evidence)


def test_missing_numbers_accepts_words_and_month_names() -> None:
    assert missing_numbers("Sie heirateten 1997.", "Im Juli 1981 heirateten sie.") == {"1997"}
    assert missing_numbers("am 8.12.2021", "am 8. Dezember 2021") == set()
    assert missing_numbers("drei Stunden", "3 Stunden") == set()  # no digits in the claim
    assert missing_numbers("3 Stunden", "drei Stunden") == set()
    assert missing_numbers("100 000 Soldaten", "rund 100.000 Soldaten") == set()


def test_a_number_must_stand_next_to_the_supporting_sentence(verifier: CitationVerifier) -> None:
    text = (
        "Im Juli 1981 feierte das Land. Dies geschah nur sechs Wochen vor der Heirat von Prinz "
        "Charles mit Lady Diana Spencer. Es gab viele Gäste. Der Palast schwieg. Das Wetter war "
        "gut. Die Queen reiste 1997 nach Paris."
    )
    hits = [_hit(1, text)]
    right, wrong = (
        verifier.verify(split_answer(answer, 1), hits)[0]
        for answer in ("Prinz Charles heiratete Lady Diana Spencer 1981 [1].",
                       "Prinz Charles heiratete Lady Diana Spencer 1997 [1].")
    )
    assert right.verified and "Heirat" in right.citations[0].quote
    assert not wrong.verified  # 1997 is in the passage, but far from the wedding
