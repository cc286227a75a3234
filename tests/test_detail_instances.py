"""The refusal benchmark's "detail left out" kind (scripts/detail_instances.py): a chunk loses
exactly the sentences that hold the answer, and is scored anew as the index would score it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from detail_instances import bm25_score, without_answer

from qa.bm25 import BM25Index, chunk_text

ARTICLES = [
    ("Treffen in Genf", "Blinken und Lawrow trafen sich in Genf. Das Gespräch dauerte 90 "
                        "Minuten. Danach sprach Lawrow von einem offenen Austausch."),
    ("Gipfel", "Biden und Putin sprachen per Video. Putin forderte ein Ende der "
               "NATO-Osterweiterung."),
    ("Wetter", "In Genf regnete es am Freitag. Der See lag ruhig."),
]


def test_bm25_score_matches_the_index() -> None:
    """A changed chunk is scored by the index's own formula and statistics: for a chunk that
    is in the index, the score equals what the index's search gives it."""
    index = BM25Index.build(range(len(ARTICLES)), [chunk_text(t, x) for t, x in ARTICLES])
    query = "Wie lange dauerte das Gespräch von Blinken und Lawrow in Genf?"
    found = dict(index.search(query, 10))
    for chunk_id, (title, text) in enumerate(ARTICLES):
        assert bm25_score(index, query, title, text) == pytest.approx(
            found.get(chunk_id, 0.0), rel=1e-5)
    # the same chunk without the sentence that answers scores lower
    cut = without_answer(ARTICLES[0][1], ["90 minuten"])
    assert cut is not None
    assert 0 < bm25_score(index, query, ARTICLES[0][0], cut) < found[0]


def test_without_answer_removes_only_the_answering_sentences() -> None:
    text = ARTICLES[0][1]
    cut = without_answer(text, ["90 minuten"])
    assert cut == "Blinken und Lawrow trafen sich in Genf. Danach sprach Lawrow von einem " \
                  "offenen Austausch."
    assert without_answer(text, ["lawrow"]) == "Das Gespräch dauerte 90 Minuten."
    assert without_answer(text, ["stockholm"]) is None  # nothing to leave out
    assert without_answer("Das Treffen dauerte 90 Minuten.", ["90 minuten"]) == ""
