"""The cross-language name rule: which names an English answer adds, when they count as given,
the shipped fitted cosine, and the rule inside the claim check with the real model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from qa.citations import CitationVerifier, split_answer
from qa.embedding import Embedder
from qa.name_check import (
    NAME_CHECK_FILE,
    NameCheck,
    added_names,
    added_words,
    best_cosines,
    describe,
    load_name_check,
    unstated_names,
    unstated_words,
    written_alike,
)
from qa.schema import Hit
from qa.settings import Settings
from qa.support import SupportScorer
from qa.word_alignment import WordVectors

LAWROW = ("Der russische Außenminister Sergej Lawrow traf US-Außenminister Antony Blinken am "
          "Freitag in Genf. Lawrow forderte erneut langfristige Sicherheitsgarantien von den USA.")
BAU = ("Dinwiddie schickte eine Kompanie von 40 Männern unter William Trent an den Ort, wo sie "
       "in den ersten Monaten des Jahres 1754 mit dem Bau einer kleinen Festung begann.")


def test_added_names_are_the_claims_names_the_question_does_not_use() -> None:
    question = "Who led the Panthers in sacks?"
    # the first word may be capitalised for being first; the question's names are its premise
    assert added_names("Peyton Manning led the Panthers in sacks.", question) == ["manning"]
    assert added_names("The British began the fort under William Trent in April 1754.",
                       "When did British begin to build fort under William Trent?") == ["april"]
    assert added_names("Warsaw's first cabaret was Momus, founded by Arnold Szyfman.",
                       "What was Warsaw's first literary cabaret?") == [
        "momus", "arnold", "szyfman"]
    assert added_names("It was in the summer. Yes.", "When?") == []
    # an acronym of the words before it adds nothing; a hyphenated name's part is the name
    assert added_names("Benefits go on a card of the Supplemental Nutrition Assistance Program "
                       "(SNAP).", "What card?") == ["supplemental", "nutrition", "assistance",
                                                    "program"]
    assert added_names("The card is a Welfare Card (WFC).", "What?") == [
        "welfare", "card", "wfc"]  # not its initials
    assert added_names("It invited members of Gaafar al-Nimeiry's party.",
                       "Whom did al-Nimeiry invite?") == ["gaafar"]


def test_added_words_are_the_lower_case_content_words_the_question_does_not_use() -> None:
    question = "What is the constitution of Victoria based on?"
    # names, numbers, number words and function words are other rules' or no claim at all
    assert added_words("The constitution of Victoria is based on a 1975 painting by Turner.",
                       question) == ["painting"]
    assert added_words("Four of them were selected for the Pro Bowl.", "How many?") == [
        "selected"]
    assert added_words("The fort was built in four weeks.", "When was the fort built?") == [
        "weeks"]
    assert added_words("It was called warming, warming.", "What?") == ["warming"]
    assert added_words("The article states that Dallas changed views.", "What changed views?") == []
    assert added_words("It occurred in 1967, as described in Passage [2].",
                       "When did it occur?") == []
    # offices and nationalities are the attribute rule's (`qa.attribute_words`)
    assert added_words("The foreign minister is John Kerry.", "Who?") == []
    assert added_words("The Russian defence minister met reporters.", "Who?") == ["met",
                                                                                  "reporters"]
    assert added_words("Rapid warming began and helped vegetation.",
                       "When did rapid warming begin and help vegetation?") == []


def test_describe_tells_the_reader_what_no_passage_gives() -> None:
    assert describe(["April"], []) == "no passage names April"
    assert describe(["Jens", "Stoltenberg"], ["painting"]) == (
        "no passage names Jens, Stoltenberg; no passage has a word for painting")
    assert describe([], []) == ""


def test_written_alike_takes_endings_and_close_spellings_not_translations() -> None:
    assert written_alike("manning", "Peyton Manning warf zwei Pässe.")
    assert written_alike("ukraine", "Die Ukrainer protestierten.")
    assert written_alike("nimeiry", "der Machthaber General Gaafar al-Nimeiry")
    assert not written_alike("april", "in den ersten Monaten des Jahres 1754")
    # spelled apart across languages: left to the word vectors
    assert not written_alike("lavrov", "Sergej Lawrow")
    assert not written_alike("geneva", "in Genf")


def _vectors(words: Sequence[str], rows: Sequence[Sequence[float]]) -> WordVectors:
    m = np.array(rows, dtype="float32")
    return WordVectors(tuple(words), m / np.linalg.norm(m, axis=1, keepdims=True))


def test_names_not_written_alike_need_the_fitted_cosine() -> None:
    claim = _vectors(["Lavrov", "demanded"], [[1, 0, 0], [0, 1, 0]])
    close = _vectors(["Lawrow"], [[0.8, 0, 0.6]])  # cosine 0.8 with "Lavrov"
    far = _vectors(["Blinken"], [[0.3, 0, 0.954]])  # cosine 0.3
    assert best_cosines(["lavrov"], claim, [far, close]) == pytest.approx([0.8])
    assert best_cosines(["scholz"], claim, [close]) == [0.0]  # no such word in the claim
    calls: list[list[str]] = []

    def words(texts: Sequence[str]) -> list[WordVectors]:
        calls.append(list(texts))
        return [claim, close if "Lawrow" in texts[1] else far]

    check = NameCheck(min_cosine=0.6, layer=10)
    question = "What did the Russian foreign minister demand?"
    assert unstated_names("He said Lavrov demanded it.", question, "Lawrow forderte",
                          ["Lawrow forderte"], words, check) == []
    # the missing name as the claim writes it
    assert unstated_names("He said Lavrov's demand stood.", question, "Blinken sagte",
                          ["Blinken sagte"], words, check) == ["Lavrov"]
    calls.clear()  # a name written alike costs no encoder pass
    assert unstated_names("He said Lawrow demanded it.", question, "Lawrow forderte",
                          ["Lawrow forderte"], words, check) == []
    assert calls == []


def test_too_few_added_words_with_a_counterpart_reject_the_claim() -> None:
    claim = _vectors(["built", "painting", "wooden"], [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    window = _vectors(["gebaut", "hölzern"], [[0.9, 0, 0.436], [0, 0.436, 0.9]])
    calls: list[list[str]] = []

    def words(texts: Sequence[str]) -> list[WordVectors]:
        calls.append(list(texts))
        return [claim, window]

    question = "When was the fort finished?"
    text = "Das Fort wurde hölzern gebaut."
    half = NameCheck(min_cosine=0.6, layer=10, min_word_share=0.5)
    # "built" and "wooden" have a counterpart, "painting" not: two of three is enough at 0.5
    assert unstated_words("It was built of wooden painting.", question, text, [text], words,
                          half) == []
    # all three must match at 1.0: the one without is what the reader is told
    assert unstated_words("It was built of wooden painting.", question, text, [text], words,
                          NameCheck(0.6, 10, 1.0)) == ["painting"]
    calls.clear()  # off without a fitted share, and no encoder pass for words written alike
    assert unstated_words("It was built of wooden painting.", question, text, [text], words,
                          NameCheck(0.6, 10)) == []
    assert unstated_words("The fort was hölzern.", question, text, [text], words, half) == []
    assert calls == []


def test_the_shipped_rule_was_fitted_and_rejects_swapped_answers() -> None:
    data = json.loads(NAME_CHECK_FILE.read_text(encoding="utf-8"))
    assert data["fitted"]["by"] == "scripts/fit_name_check.py"
    assert data["embed_model"] == Settings(_env_file=None).embed_model
    check = load_name_check(NAME_CHECK_FILE, data["embed_model"])
    assert check is not None and check.min_cosine == data["min_cosine"]
    assert load_name_check(NAME_CHECK_FILE, "some/other-model") is None  # its cosines differ
    before = data["accepted"]["without the rule"]
    after = data["accepted"][f"cosine {data['min_cosine']}"]
    # on the half it was not fitted on: far fewer false claims pass, few true ones are lost
    assert after["report: answer swapped"]["accepted"] < before["report: answer swapped"][
        "accepted"] - 0.15
    assert after["report: other sentence"]["accepted"] < before["report: other sentence"][
        "accepted"] - 0.1
    assert after["report: true"]["accepted"] > before["report: true"]["accepted"] - 0.04
    assert after["report: true"]["n"] > 200
    # the words rule on top, where it was fitted: fewer false claims again, true ones kept
    share = data["min_word_share"]
    assert share is not None and check.min_word_share == share
    words = data["accepted"][f"cosine {data['min_cosine']}, word share {share}"]
    for kind in ("answer swapped", "other sentence"):
        assert words[f"report: {kind}"]["accepted"] < after[f"report: {kind}"]["accepted"] - 0.05
    assert words["report: true"]["accepted"] > after["report: true"]["accepted"] - 0.03


@pytest.fixture(scope="module")
def verifier(embedder: Embedder) -> CitationVerifier:
    return CitationVerifier(SupportScorer(embedder), Settings(_env_file=None).support_threshold)


def _verified(verifier: CitationVerifier, answer: str, question: str, text: str) -> bool:
    hit = Hit(chunk_id=1, article_id="a1", ordinal=0, start=0, end=len(text), text=text,
              title="Gespräche in Genf", date="2022-01-21", source="AFP", path="1.txt",
              score=1.0)
    [sentence] = verifier.verify(split_answer(answer, 1), [hit], "en", question)
    return sentence.verified


def test_an_english_answer_naming_someone_else_is_rejected(verifier: CitationVerifier) -> None:
    question = "What did the Russian foreign minister demand?"
    assert _verified(verifier, "The Russian foreign minister Sergej Lawrow demanded long-term "
                     "security guarantees from the USA [1].", question, LAWROW)
    # spelled the English way: matched by meaning
    assert _verified(verifier, "The Russian foreign minister Sergei Lavrov demanded long-term "
                     "security guarantees from the USA [1].", question, LAWROW)
    assert not _verified(verifier, "The Russian foreign minister Sergej Lawrow demanded "
                         "long-term security guarantees from Olaf Scholz [1].", question, LAWROW)


def test_an_invented_month_or_person_is_rejected(verifier: CitationVerifier) -> None:
    """Replayed on the recorded xquad-en answers: the model's "in April 1754" passed, though
    the passage only says "in den ersten Monaten des Jahres 1754"."""
    question = "When did the company under William Trent begin to build a fort?"
    assert _verified(verifier, "The company under William Trent began to build a small fort "
                     "in 1754 [1].", question, BAU)
    assert not _verified(verifier, "The company under William Trent began to build a small "
                         "fort in April 1754 [1].", question, BAU)
    assert _verified(verifier, "In 1754 Dinwiddie sent 40 men under William Trent to build a "
                     "small fort [1].", question, BAU)
    assert not _verified(verifier, "In 1754 Washington sent 40 men under William Trent to "
                         "build a small fort [1].", question, BAU)


def test_german_answers_over_english_passages_are_left_to_the_other_checks(
        verifier: CitationVerifier, embedder: Embedder) -> None:
    """German capitalises every noun, so the rule (fitted on English answers) reads English
    answers only: a German answer about an English passage is judged as without it."""
    without = CitationVerifier(SupportScorer(embedder), Settings(_env_file=None).support_threshold,
                               name_check_file=Path("/nonexistent"))
    text = "Lavrov demanded long-term security guarantees from the United States on Friday."
    hit = Hit(chunk_id=1, article_id="a1", ordinal=0, start=0, end=len(text), text=text,
              title="Talks in Geneva", date="2022-01-21", source="AP", path="1.txt", score=1.0)
    answer = "Am Freitag forderte Lawrow langfristige Sicherheitsgarantien von Washington [1]."
    question = "Was forderte Lawrow?"
    verdicts = [v.verify(split_answer(answer, 1), [hit], "de", question)[0].verified
                for v in (verifier, without)]
    # read as English, "Sicherheitsgarantien", "Washington" … would need to be there
    assert verdicts == [True, True]
    assert without.names is None and verifier.names is not None


def test_an_english_answer_adding_unstated_words_is_rejected(
        verifier: CitationVerifier) -> None:
    """Names alone let "cheap gas deliveries" pass against Lawrow's demand for security
    guarantees (support 0.6); too few of its added words have a counterpart there."""
    question = "What did the Russian foreign minister demand?"
    names_only = CitationVerifier(verifier.scorer, verifier.threshold)
    assert verifier.names is not None
    names_only.names = NameCheck(verifier.names.min_cosine, verifier.names.layer)
    false = "Lawrow demanded cheap gas deliveries from the USA [1]."
    assert _verified(names_only, false, question, LAWROW)
    assert not _verified(verifier, false, question, LAWROW)
    hit = Hit(chunk_id=1, article_id="a1", ordinal=0, start=0, end=len(LAWROW), text=LAWROW,
              title="Gespräche in Genf", date="2022-01-21", source="AFP", path="1.txt",
              score=1.0)
    [sentence] = verifier.verify(split_answer(false, 1), [hit], "en", question)
    assert "gas" in sentence.unstated_words and sentence.unstated_names == ()
    # worded apart from the passage, but every added word has a counterpart
    assert _verified(verifier, "Lawrow again demanded lasting security assurances from the "
                     "United States [1].", question, LAWROW)
    assert _verified(verifier, "Lawrow demanded long-term security guarantees from the USA [1].",
                     question, LAWROW)
