"""Unit tests for qa.evaluation.metrics: German normalisation, answer matching, hits, rates."""

from __future__ import annotations

import pytest

from qa.evaluation.metrics import (
    Metric,
    RetrievedChunk,
    all_contexts_rank,
    contains_answer,
    exact_match,
    first_hit_rank,
    mean,
    mrr_at,
    normalize,
    percentile,
    recall_at,
    refusal_scores,
    text_overlaps,
    token_f1,
)
from qa.evaluation.testset import TestCase

# --- normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    ["100 000", "100.000", "100,000", "100000", "100\u00a0000", "100\u202f000"],
)
def test_thousands_separators_fold_to_one_integer(variant: str) -> None:
    assert normalize(variant) == "100000"


def test_large_numbers_and_mixed_decimal() -> None:
    assert normalize("1.000.000") == normalize("1 000 000") == "1000000"
    assert normalize("1.234,5") == "1234.5"


def test_decimals_stay_distinct_from_integers() -> None:
    assert normalize("1,5") == normalize("1.5") == "1.5"
    assert normalize("1,5") != normalize("15")
    assert normalize("21:30 Uhr") == normalize("21.30 Uhr") == "21.30 uhr"


def test_dates_and_leading_zeros() -> None:
    assert normalize("07. Dezember") == normalize("7. Dezember") == "7 dezember"
    assert normalize("21.01.2022") == "21.01.2022"
    # a four-digit year followed by a number is not a thousands group
    assert normalize("2014 300 Soldaten") == "2014 300 soldaten"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Präsident", "Praesident"),
        ("Präsident", "Prasident"),
        ("Außenminister", "Aussenminister"),
        ("Größe", "Groesse"),
        ("Süd", "Sued"),
        ("NÜTZLICH", "nuetzlich"),
    ],
)
def test_umlauts_and_eszett_fold(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)


def test_punctuation_quotes_and_whitespace() -> None:
    assert normalize("„Deeskalation“") == "deeskalation"
    assert (
        normalize("“langfristige   Sicherheitsgarantien”!") == "langfristige sicherheitsgarantien"
    )
    assert normalize("\"nützlich\", 'offen'") == "nutzlich offen"
    assert normalize("US-Präsident\n(Biden)") == "us prasident biden"


def test_articles_are_kept() -> None:
    assert normalize("der Videogipfel") == "der videogipfel"
    assert normalize("der Videogipfel") != normalize("Videogipfel")


# --- answer matching -------------------------------------------------------------------------


def test_contains_answer_matches_number_variants() -> None:
    pred = "An der Grenze standen laut dpa-AFX 100.000 russische Soldaten."
    assert contains_answer(pred, ["100 000"])
    assert contains_answer("Es waren mehr als 120 000 Soldaten.", ["mehr als 120.000"])


def test_contains_answer_number_must_end_at_token_boundary() -> None:
    assert not contains_answer("mehr als 120.000 Soldaten", ["12"])
    assert not contains_answer("mehr als 120.000 Soldaten", ["120"])
    assert not contains_answer("1,5 Stunden", ["1"])
    assert contains_answer("Es waren 12 Soldaten.", ["12"])


def test_contains_answer_allows_inflection_but_not_word_middles() -> None:
    assert contains_answer(
        "die Umsetzung des Minsker Friedensabkommens", ["Minsker Friedensabkommen"]
    )
    assert not contains_answer("Sie forderten Sicherheitsgarantien.", ["Garantien"])


def test_contains_answer_umlauts_and_no_answers() -> None:
    assert contains_answer("Er nannte es nuetzlich.", ["nützlich"])
    assert not contains_answer("Er nannte es schädlich.", ["nützlich"])
    assert not contains_answer("irgendetwas", [])
    assert not contains_answer("irgendetwas", ["", "  "])


def test_exact_match() -> None:
    assert exact_match("Gut zwei Stunden.", ["gut zwei Stunden"])
    assert exact_match("100.000", ["100 000"])
    assert not exact_match("Das dauerte gut zwei Stunden.", ["gut zwei Stunden"])
    assert not exact_match("", [""])


def test_token_f1() -> None:
    assert token_f1("zwei Stunden", ["zwei Stunden"]) == 1.0
    # pred 4 tokens, gold 2, overlap 2: p=0.5, r=1 -> 2/3
    assert token_f1("gut zwei Stunden lang", ["zwei Stunden"]) == pytest.approx(2 / 3)
    assert token_f1("Genf", ["Stockholm"]) == 0.0
    # max over answers
    assert token_f1("anderthalb Stunden", ["zwei Stunden", "anderthalb Stunden"]) == 1.0
    assert token_f1("", ["x"]) == 0.0
    assert token_f1("etwas", []) == 0.0
    # repeated tokens are counted once per occurrence in the gold
    assert token_f1("Stunden Stunden", ["Stunden"]) == pytest.approx(2 / 3)


# --- retrieval hits --------------------------------------------------------------------------

CONTEXT = (
    "Sie vereinbarten bei dem Treffen, das mit anderthalb Stunden etwas schneller als erwartet "
    "über die Bühne ging, dass sie weiter an einer friedlichen Lösung der Krise interessiert seien."
)
DOC = "002_68c4e19876a1812a.txt"


def _case(**kw: object) -> TestCase:
    base: dict[str, object] = {
        "id": "t",
        "question": "Wie lange dauerte das Treffen?",
        "answers": ["anderthalb Stunden"],
        "docs": [DOC],
        "contexts": [CONTEXT],
    }
    base.update(kw)
    return TestCase(**base)  # type: ignore[arg-type]


def test_text_overlaps() -> None:
    assert text_overlaps("Vorher. " + CONTEXT + " Nachher.", CONTEXT)  # chunk contains context
    assert text_overlaps(CONTEXT[10:80], CONTEXT)  # context contains chunk
    # partial overlap of >= 40 chars at the chunk's end
    assert text_overlaps("Ganz anderer Anfang des Chunks. " + CONTEXT[:45], CONTEXT)
    assert not text_overlaps("Ganz anderer Anfang des Chunks. " + CONTEXT[:30], CONTEXT)
    # whitespace differences (no-break space, line breaks) do not matter
    assert text_overlaps(CONTEXT.replace(" ", "\u00a0").replace("Treffen,", "Treffen,\n"), CONTEXT)
    assert not text_overlaps("", CONTEXT)


def test_short_context_must_be_contained_whole() -> None:
    assert text_overlaps("... sagte Sullivan. Weiter ...", "sagte Sullivan.")
    assert not text_overlaps("... sagte Sullivans Team ...", "sagte Sullivan.")


def test_first_hit_rank_needs_doc_and_overlap() -> None:
    case = _case()
    wrong_doc = RetrievedChunk("004_00dbb6a2ad2f8973.txt", CONTEXT)
    right_doc_other_text = RetrievedChunk(DOC, "Die Flagge der Ukraine. anderthalb Stunden")
    hit = RetrievedChunk("articles/002_68c4e19876a1812a", "Blinken sagte... " + CONTEXT)
    assert first_hit_rank([wrong_doc, right_doc_other_text, hit], case) == 3
    assert first_hit_rank([wrong_doc, right_doc_other_text], case) is None
    assert first_hit_rank([], case) is None


def test_without_context_an_answer_in_a_gold_doc_is_a_hit() -> None:
    case = _case(contexts=[])
    assert first_hit_rank([RetrievedChunk(DOC, "Das dauerte anderthalb Stunden.")], case) == 1
    assert (
        first_hit_rank([RetrievedChunk("x.txt", "Das dauerte anderthalb Stunden.")], case) is None
    )
    no_docs = _case(contexts=[], docs=[])
    assert first_hit_rank([RetrievedChunk("x.txt", "anderthalb Stunden")], no_docs) == 1


def test_multi_doc_ranks() -> None:
    other_ctx = "Putin und Biden hatten vor dem Hintergrund wachsender Spannungen gut zwei Stunden."
    other_doc = "004_00dbb6a2ad2f8973.txt"
    case = _case(docs=[DOC, other_doc], contexts=[CONTEXT, other_ctx])
    chunks = [
        RetrievedChunk("noise.txt", "nichts"),
        RetrievedChunk(other_doc, other_ctx),
        RetrievedChunk("noise.txt", "nichts"),
        RetrievedChunk(DOC, CONTEXT),
    ]
    assert first_hit_rank(chunks, case) == 2
    assert all_contexts_rank(chunks, case) == 4
    assert all_contexts_rank(chunks[:3], case) is None
    # a context attributed to one doc does not count when found in the other
    swapped = [RetrievedChunk(DOC, other_ctx), RetrievedChunk(other_doc, CONTEXT)]
    assert first_hit_rank(swapped, case) is None


def test_recall_and_mrr() -> None:
    ranks: list[int | None] = [1, 3, None, 10]
    assert recall_at(ranks, 1) == Metric(0.25, 4)
    assert recall_at(ranks, 3) == Metric(0.5, 4)
    assert recall_at(ranks, 10) == Metric(0.75, 4)
    assert mrr_at(ranks, 3).value == pytest.approx((1 + 1 / 3) / 4)
    assert mrr_at(ranks, 10).value == pytest.approx((1 + 1 / 3 + 0.1) / 4)
    assert mrr_at(ranks, 10).n == 4
    assert recall_at([], 5) == Metric(0.0, 0)
    with pytest.raises(ValueError):
        recall_at(ranks, 0)


# --- refusals and aggregates -----------------------------------------------------------------


def test_refusal_scores() -> None:
    pairs = [
        (True, True),  # correct refusal
        (True, True),
        (True, False),  # answered an unanswerable question
        (False, True),  # refused an answerable question
        (False, False),
        (False, False),
    ]
    scores = refusal_scores(pairs)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)
    assert scores["false_refusal_rate"] == pytest.approx(1 / 3)
    assert (scores["n"], scores["n_refused"], scores["n_unanswerable"]) == (6, 3, 3)
    assert scores["n_answerable"] == 3


def test_refusal_scores_empty_denominators() -> None:
    scores = refusal_scores([(False, False)])
    assert scores["precision"] == 0.0 and scores["recall"] == 0.0
    assert scores["n_refused"] == 0 and scores["n_unanswerable"] == 0 and scores["n"] == 1


def test_percentile_matches_linear_interpolation() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == Metric(1.0, 4)
    assert percentile(values, 100) == Metric(4.0, 4)
    assert percentile(values, 50).value == pytest.approx(2.5)
    assert percentile(values, 95).value == pytest.approx(3.85)  # numpy.percentile agrees
    assert percentile([7.0], 95) == Metric(7.0, 1)
    assert percentile([], 50) == Metric(0.0, 0)
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_mean_counts_bools() -> None:
    assert mean([True, False, True, True]) == Metric(0.75, 4)
    assert mean([]) == Metric(0.0, 0)
