"""Word alignment with the real multilingual model: which of a question's words a sentence
holds, across languages, and the one pass that gives the gate both word and sentence vectors."""

from __future__ import annotations

import numpy as np
import pytest

from qa.embedding import Embedder
from qa.support import SupportScorer, is_content_word
from qa.word_alignment import (
    WordVectors,
    best_pair_recall,
    best_recall,
    encode_with_words,
    matched,
)

LAYER = 10
ANSWER = ("Lawrow forderte von Blinken in Stockholm langfristige Sicherheitsgarantien für "
          "Russland.")
TOPIC = "Blinken und Lawrow trafen sich am Donnerstag in Stockholm zu einem Gespräch."


@pytest.fixture(scope="module")
def scorer(embedder: Embedder) -> SupportScorer:
    return SupportScorer(embedder)


def test_one_pass_gives_the_sentence_vectors_encode_gives(embedder: Embedder) -> None:
    texts = [ANSWER, TOPIC, "Kurz."]
    vectors, words = encode_with_words(embedder.model, texts, embedder.passage_prefix, LAYER,
                                       is_content_word)
    expected = embedder.encode_passages(texts)
    assert np.abs(vectors - expected).max() < 1e-4
    assert len(words) == 3
    # content words only, stripped of the space before them; the prefix's word is not one
    assert words[1].words[:2] == ("Blinken", "Lawrow")
    assert "und" not in words[1].words and "passage:" not in words[1].words
    norms = np.linalg.norm(words[0].vectors, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)


def test_an_english_question_finds_its_words_in_the_german_sentence_that_answers(
    scorer: SupportScorer,
) -> None:
    question = scorer.query_words("What security guarantees did Lavrov demand?", LAYER)
    assert question.words == ("security", "guarantees", "Lavrov", "demand?")
    answer, topic = scorer.passage_words([ANSWER, TOPIC], LAYER)
    on_answer, on_topic = matched(question, answer), matched(question, topic)
    # the name matches in both; what is asked about only where it is stated
    lavrov = question.words.index("Lavrov")
    assert on_answer[lavrov] > 0.6 and on_topic[lavrov] > 0.6
    assert on_answer.mean() > on_topic.mean() + 0.1
    assert best_recall(question, [[topic], [answer]]) == pytest.approx(on_answer.mean())


def test_a_neighbour_sentence_can_hold_the_rest_of_the_question(scorer: SupportScorer) -> None:
    question = scorer.query_words("Was forderte Lawrow in Stockholm?", LAYER)
    first, second = scorer.passage_words(
        ["Lawrow traf Blinken in Stockholm.", "Er forderte langfristige Sicherheitsgarantien."],
        LAYER)
    alone = best_recall(question, [[first, second]])
    assert best_pair_recall(question, [[first, second]]) > alone
    # sentences of different passages are not neighbours
    assert best_pair_recall(question, [[first], [second]]) == pytest.approx(alone)


def test_the_gate_embeds_its_sentences_once_for_words_and_vectors(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch,
) -> None:
    scorer = SupportScorer(embedder)
    texts = ["Peskow sagte, der Kreml sei offen für Gespräche.", "Die Nato lehnte ab."]
    scorer.passage_words(texts, LAYER)

    def fail(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("embedded twice")

    monkeypatch.setattr(embedder, "encode_passages", fail)
    assert scorer.passage_vectors(texts).shape == (2, embedder.dimension)
    assert [w.words for w in scorer.passage_words(texts, LAYER)][1] == ("Nato", "lehnte", "ab.")


def test_no_words_match_nothing() -> None:
    empty = WordVectors((), np.zeros((0, 4), dtype="float32"))
    some = WordVectors(("a",), np.ones((1, 4), dtype="float32") / 2)
    assert matched(empty, some).shape == (0,)
    assert matched(some, empty).tolist() == [0.0]
    assert best_recall(empty, [[some]]) == 0.0
    assert best_pair_recall(some, [[]]) == 0.0
