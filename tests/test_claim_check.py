"""The claim check: the issue's false claims rejected, its parts, the claim set, a regression
sample from the bench, and the answer service leaving unsupported sentences out."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from qa.citations import CitationVerifier, ParsedSentence, split_answer
from qa.claim_check import (
    CLAIM_CHECK_FILE,
    FEATURES,
    ParsedClaim,
    Tokens,
    claim_terms,
    fitted_check,
    resolve_pronoun,
)
from qa.embedding import Embedder
from qa.evaluation.claimset import FALSE_KINDS, TRUE_KINDS, build
from qa.schema import Hit
from qa.settings import Settings
from qa.support import SupportScorer

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"

# Sentences as the sample articles state them (dpa, AFP; December 2021 / January 2022).
RESNIKOW = (
    "Der ukrainische Verteidigungsminister Olexij Resnikow warnte in einem Interview vor einer "
    "russischen Invasion. Er sprach von einer ernsten Lage an der Grenze."
)
GENF = (
    "Der russische Vize-Außenminister Sergej Rjabkow bezeichnete die Lage als sehr ernst. "
    "Der russische Außenminister Sergej Lawrow forderte derweil langfristige "
    "Sicherheitsgarantien von den USA."
)
TRUPPEN = (
    "Russland weist das zurück und wirft der Ukraine vor, mehr als 120.000 Soldaten an die "
    "Linie zu den Separatistengebieten verlegt zu haben."
)


def _hit(n: int, text: str, title: str, source: str = "dpa") -> Hit:
    return Hit(chunk_id=n, article_id=f"a{n}", ordinal=0, start=0, end=len(text), text=text,
               title=title, date="2021-12-08", source=source, path=f"{n}.txt", score=1.0)


HITS = [_hit(1, RESNIKOW, "Ukraine warnt vor Angriff"),
        _hit(2, GENF, "Gespräche in Genf", "AFP"),
        _hit(3, TRUPPEN, "Truppenaufmarsch an der Grenze")]


@pytest.fixture(scope="module")
def verifier() -> CitationVerifier:
    settings = Settings(_env_file=None)
    return CitationVerifier(SupportScorer(Embedder(settings)), settings.support_threshold)


def check(verifier: CitationVerifier, answer: str, question: str) -> list[bool]:
    sentences = verifier.verify(split_answer(answer, len(HITS)), HITS, "de", question)
    return [s.verified for s in sentences]


def test_the_shipped_check_is_fitted_for_the_default_model() -> None:
    data = json.loads(CLAIM_CHECK_FILE.read_text(encoding="utf-8"))
    entry = data[Settings(_env_file=None).embed_model]
    assert tuple(entry["features"]) == FEATURES
    assert entry["fitted"]["by"] == "scripts/fit_claims.py"
    assert entry["report_half"]["all"]["fitted"]["n_false"] > 1000
    assert fitted_check(Settings(_env_file=None).embed_model) is not None
    assert fitted_check("some/other-model") is None  # the support threshold decides there


def test_a_wrong_nationality_is_rejected(verifier: CitationVerifier) -> None:
    question = "Wie heißt der ukrainische Verteidigungsminister?"
    assert check(verifier, "Der ukrainische Verteidigungsminister ist Olexij Resnikow [1].",
                 question) == [True]
    assert check(verifier, "Der russische Verteidigungsminister ist Olexij Resnikow [1].",
                 question) == [False]


def test_english_claims_get_offices_and_nationalities_right(verifier: CitationVerifier) -> None:
    """Across languages only the support score read a claim, and every one of these passed
    (cosine 0.61-0.78). The issue's false claims, asked in English, are now rejected; the
    true ones, with English or German spellings, still pass."""
    def verdict(answer: str, question: str) -> bool:
        [sentence] = verifier.verify(split_answer(answer, len(HITS)), HITS, "en", question)
        return sentence.verified

    minister = "Who is the Ukrainian defence minister?"
    assert verdict("The Ukrainian defence minister is Oleksii Reznikov [1].", minister)
    assert verdict("The Ukrainian defence minister is Olexij Resnikow [1].", minister)
    assert not verdict("The Russian defence minister is Olexij Resnikow [1].", minister)
    lawrow = "Who is the Russian foreign minister?"
    assert verdict("The Russian foreign minister is Sergej Lawrow [2].", lawrow)
    assert verdict("Lavrov demanded long-term security guarantees from the USA [2].", lawrow)
    assert not verdict("The Ukrainian foreign minister is Sergej Lawrow [2].", lawrow)
    assert not verdict("The Russian president is Sergej Lawrow [2].", lawrow)
    assert verdict("Russia accuses Ukraine of moving more than 120,000 soldiers [3].",
                   "How many soldiers did Ukraine move?")


def test_a_country_s_genitive_is_its_nationality(verifier: CitationVerifier) -> None:
    """Seen on the sample set: "mit dem ukrainischen Außenminister Sergej Lawrow" passed
    against "mit Russlands Außenminister Sergej Lawrow" (the question's "ukrainischen" is its
    premise, and "Russlands" was no nationality)."""
    stockholm = ("Blinken sprach am Donnerstag mit Reportern in Stockholm, kurz nach einem "
                 "Treffen mit Russlands Außenminister Sergej Lawrow.")
    hits = [_hit(1, stockholm, "Blinken warnt Russland")]
    question = "Mit welchem ukrainischen Außenminister beriet sich Blinken in Stockholm?"
    verdicts = [s.verified for answer in (
        "Blinken traf in Stockholm den russischen Außenminister Sergej Lawrow [1].",
        "Blinken beriet sich in Stockholm mit dem ukrainischen Außenminister Sergej Lawrow [1].")
        for s in verifier.verify(split_answer(answer, 1), hits, "de", question)]
    assert verdicts == [True, False]
    assert Tokens.of("US-Außenminister Blinken").modified() == [
        ("nationality", "amerikanisch", "aussenminist"), ("role", "aussenminist", "blink")]


def test_a_statement_of_another_person_is_rejected(verifier: CitationVerifier) -> None:
    question = "Wie beschrieb Rjabkow die Lage?"
    verdicts = check(verifier, "Rjabkow bezeichnete die Lage als sehr ernst [2]. Er forderte "
                     "langfristige Sicherheitsgarantien [2].", question)
    assert verdicts == [True, False]  # Lawrow demanded the guarantees, not Rjabkow
    assert check(verifier, "Lawrow forderte langfristige Sicherheitsgarantien [2].",
                 "Was forderte Lawrow?") == [True]


def test_an_answer_may_repeat_what_the_question_takes_as_given(
        verifier: CitationVerifier) -> None:
    # "laut AFP": the article's source states it, the cited sentence need not
    question = "Was forderte Lawrow laut AFP von den USA?"
    assert check(verifier, "Lawrow forderte laut AFP langfristige Sicherheitsgarantien von den "
                 "USA [2].", question) == [True]
    # a premise no passage states is still missing: Stockholm is not in the articles
    assert check(verifier, "Lawrow forderte in Stockholm langfristige Sicherheitsgarantien von "
                 "den USA [2].", "Was forderte Lawrow in Stockholm?") == [False]


def test_a_figure_about_something_else_is_rejected(verifier: CitationVerifier) -> None:
    """A figure from a passage about Ukrainian troops, to a question about NATO troops in
    Romania: the claim set's "short_elsewhere" kind taught the check this case."""
    question = "Wie viele NATO-Soldaten wurden im Dezember 2021 nach Rumänien verlegt?"
    assert check(verifier, "Die Antwort ist 120.000 Soldaten [3].", question) == [False]


def test_a_short_reply_to_its_own_question_is_accepted(verifier: CitationVerifier) -> None:
    assert check(verifier, "Die Antwort ist 120.000 Soldaten [3].",
                 "Wie viele Soldaten soll die Ukraine an die Linie verlegt haben?") == [True]


def test_attribute_conflicts_and_key_words() -> None:
    claim = ParsedClaim.of("Der russische Verteidigungsminister ist Olexij Resnikow.")
    assert claim.modified == (("nationality", "russisch", "verteidigungsminist"),)
    assert Tokens.of(RESNIKOW).conflicts(list(claim.modified)) == 1
    assert Tokens.of("Der russische Verteidigungsminister schwieg.").conflicts(
        list(claim.modified)) == 0
    keys = {t.stem: t.key for t in claim_terms("Lawrow forderte langfristige Garantien 2021")}
    assert keys == {"lawrow": True, "fordert": False, "langfrist": False, "garanti": True,
                    "2021": False}  # numbers have the neighbourhood rule of their own


def test_a_pronoun_stands_for_the_previous_sentence_s_subject() -> None:
    assert resolve_pronoun("Er forderte Garantien.", "Rjabkow sagte etwas.") == (
        "Rjabkow forderte Garantien.")
    assert resolve_pronoun("Er forderte Garantien.", None) == "Er forderte Garantien."
    assert resolve_pronoun("Lawrow forderte Garantien.", "Rjabkow sagte.") == (
        "Lawrow forderte Garantien.")


QUESTION = {
    "id": "q1", "title": "Genf",
    "question": "Wer forderte langfristige Sicherheitsgarantien?",
    "answers": ["Sergej Lawrow"], "answer_starts": [GENF.index("Sergej Lawrow")],
    "context": GENF,
}
OTHER = {**QUESTION, "id": "q2", "answers": ["Joe Biden"], "answer_starts": [0],
         "context": "Joe Biden sprach mit Wladimir Putin über die Ukraine."}


def test_the_claim_set_swaps_one_thing_and_keeps_the_rest() -> None:
    claims = {c.kind: c for c in build({"test": [QUESTION, OTHER]}) if c.qid == "q1"}
    assert claims["sentence"].label == 1 and "Sergej Lawrow" in claims["sentence"].claim
    assert claims["answer_swap"].label == 0
    assert "Joe Biden forderte" in claims["answer_swap"].claim  # the other question's answer
    assert claims["attribute_swap"].label == 0
    assert "russische Außenminister" not in claims["attribute_swap"].claim
    # a name from the other sentence of the same paragraph: every word is in the evidence
    assert claims["in_passage"].claim == (
        "Der russische Außenminister Rjabkow forderte derweil langfristige "
        "Sicherheitsgarantien von den USA.")
    assert claims["short_in_passage"].claim == "Die Antwort ist Rjabkow."
    assert {c.kind for c in claims.values()} <= set(TRUE_KINDS) | set(FALSE_KINDS)


def test_the_bare_reply_s_wording_does_not_follow_the_fit_report_split() -> None:
    """The reply's frame ("Die Antwort ist ...") was once picked by the same hash as the half,
    so the fit half never saw a true framed reply and learned to reject them all."""
    shorts = [c for c in build({"test": [{**QUESTION, "id": f"q{i}"} for i in range(40)]})
              if c.kind == "short"]
    for report in (False, True):
        wordings = {c.claim for c in shorts if _report_half(c.qid) == report}
        assert len(wordings) >= 3, wordings


def test_a_swap_replaces_whole_words_with_a_word_that_says_something() -> None:
    spliced = {**QUESTION, "answers": ["ergej Lawrow"],
               "answer_starts": [GENF.index("ergej Lawrow")]}
    kinds = {c.kind for c in build({"test": [spliced, OTHER]}) if c.qid == "q1"}
    assert "short" in kinds and not kinds & {"answer_swap", "in_passage"}
    lawrow = GENF.split(". ")[1]
    stop_word = {**QUESTION, "context": f"Sagen es alle so: Wir warten. {lawrow}",
                 "answer_starts": [0]}  # its only other capitalised word is "Wir"
    kinds = {c.kind for c in build({"test": [stop_word, OTHER]}) if c.qid == "q1"}
    assert "sentence" in kinds and "in_passage" not in kinds


def test_the_claim_set_answers_with_another_document_s_figure() -> None:
    """The 120.000-Soldaten kind: a reply another document states, checked against it."""
    romania = {"id": "q3", "title": "Rumänien", "doc": "rumaenien.txt",
               "question": "Wie viele NATO-Soldaten wurden nach Rumänien verlegt?",
               "answers": ["1.000"], "answer_starts": [4],
               "context": "Rund 1.000 NATO-Soldaten wurden nach Rumänien verlegt."}
    troops = {"id": "q4", "title": "Truppen", "doc": "truppen.txt",
              "question": "Wie viele Soldaten soll die Ukraine verlegt haben?",
              "answers": ["120.000"], "answer_starts": [TRUPPEN.index("120.000")],
              "context": TRUPPEN}
    claims = [c for c in build({"test": [romania, troops]}) if c.kind == "short_elsewhere"]
    mine = next(c for c in claims if c.qid == "q3")
    assert mine.label == 0 and "120.000" in mine.claim
    assert mine.evidence == TRUPPEN and mine.question == romania["question"]


def _report_half(qid: str) -> bool:
    return int(hashlib.sha1(qid.encode()).hexdigest(), 16) % 2 == 1


@pytest.mark.skipif(not (BENCH / "xquad-de" / "questions.jsonl").is_file(),
                    reason="bench data not present")
def test_the_check_holds_on_a_fixed_bench_sample(verifier: CitationVerifier) -> None:
    """A regression guard: claims of 40 report-half questions per set (never fitted on),
    each checked by the verifier against its gold paragraph as an answer sentence."""
    questions = {}
    for name in ("germanquad", "xquad-de"):
        rows = [json.loads(x) for x in (BENCH / name / "questions.jsonl").read_text(
            encoding="utf-8").splitlines() if x.strip()]
        questions[name] = [r for r in rows if _report_half(r["id"])][:40]
    claims = build(questions)
    accepted: dict[int, list[bool]] = {0: [], 1: []}
    for c in claims:
        hits = [_hit(1, c.evidence, c.title)]
        [sentence] = verifier.verify([ParsedSentence(c.claim, [1])], hits, "de", c.question)
        accepted[c.label].append(sentence.verified)
    true_ok = sum(accepted[1]) / len(accepted[1])
    false_ok = 1 - sum(accepted[0]) / len(accepted[0])
    assert len(claims) > 300
    # measured 0.911 / 0.951 at the fit of 2026-12-07 (80 questions: a few claims of slack)
    assert true_ok >= 0.88, f"true claims accepted fell to {true_ok:.3f}"
    assert false_ok >= 0.93, f"false claims rejected fell to {false_ok:.3f}"
