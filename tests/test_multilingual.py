"""German and English questions over the German sample articles, with the real models.

The cases the English MiniLM failed: a German question whose answer shares few words with it,
and an English question that shares none with the German articles.
"""

from __future__ import annotations

import pytest

from qa.answer import Answerer
from qa.embedding import Embedder
from qa.gate import AnswerGate
from qa.llm.select import embedded_ready
from qa.prompting import REFUSAL
from qa.retrieval import Retriever, is_cross_lingual
from qa.settings import Settings

LAWROW_EN = "What security guarantees did Lavrov demand from Blinken in Stockholm?"


@pytest.fixture(scope="module")
def retriever(sample_index: Settings, embedder: Embedder) -> Retriever:
    return Retriever(sample_index, embedder)


@pytest.fixture(scope="module")
def answerer(sample_index: Settings, retriever: Retriever) -> Answerer:
    return Answerer(sample_index.model_copy(update={"llm": "extractive"}), retriever)


def test_videogipfel_demand_is_in_the_top_five(retriever: Retriever) -> None:
    hits = retriever.search("Was forderte Russland beim Videogipfel?", k=5)
    assert any("Stopp der NATO-Osterweiterung" in h.text for h in hits)


def test_english_question_finds_the_german_passage(retriever: Retriever) -> None:
    hits = retriever.search(LAWROW_EN, k=5)
    assert any("Sicherheitsgarantien" in h.text for h in hits[:3])
    assert is_cross_lingual(LAWROW_EN, [h.text for h in hits[:3]])
    assert not is_cross_lingual("Was fordert Lawrow?", [h.text for h in hits[:3]])


def test_english_question_passes_the_gate_and_is_answered_in_quotes(answerer: Answerer) -> None:
    answer = answerer.ask(LAWROW_EN)
    assert not answer.refused, answer.text
    quoted = " ".join(c.quote for s in answer.sentences for c in s.citations)
    assert "Sicherheitsgarantien" in quoted


def test_off_corpus_english_question_is_refused_in_english(answerer: Answerer) -> None:
    answer = answerer.ask("Who won the football world cup in 2014?")
    assert answer.refused and answer.text == REFUSAL["en"]


def test_the_fitted_gate_is_used_for_the_default_model(sample_index: Settings) -> None:
    gate = AnswerGate(sample_index)
    assert gate.fitted is not None, "qa/data/answer_gate.json is missing for the default model"
    other = AnswerGate(sample_index.model_copy(update={"embed_model": "some/other-model"}))
    assert other.fitted is None  # cosine ranges are model-specific: coverage fallback


@pytest.mark.slow
@pytest.mark.skipif(not embedded_ready(Settings(_env_file=None)),
                    reason="llama-cpp-python or the packaged GGUF missing")
def test_embedded_model_answers_the_english_question_in_english(
    sample_index: Settings, retriever: Retriever
) -> None:
    answerer = Answerer(sample_index.model_copy(update={"llm": "llamacpp"}), retriever)
    answer = answerer.ask(LAWROW_EN)
    assert not answer.refused, answer.text
    assert any(s.verified for s in answer.sentences), answer.text
    from qa.language import language

    assert language(answer.text) == "en", answer.text
