"""The chat's `/ask` endpoint, called the way scripts call it: through gradio_client.

One app process (quote-only answers, temporary index) serves every test in this file.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client

from qa.chat_render import render_answer, render_article, render_sources
from qa.schema import Answer, AnswerSentence, Citation, Hit, SearchScope
from qa.store import IndexStore, open_index

sys.path.insert(0, str(Path(__file__).parent))  # the helper sits next to this file
from _app_server import AppServer, app_server

EXPECTED = {  # question -> a word the (quoted) answer must contain
    "Was fordert Lawrow?": "Sicherheitsgarantien",
    "Wie lange dauerte der Videogipfel zwischen Biden und Putin?": "Videogipfel",
    "Was kündigte Blinken nach dem Treffen in Genf an?": "Blinken",
}
OFF_TOPIC = "Wer gewann die Fußball-WM 2014?"


@pytest.fixture(scope="module")
def server() -> AppServer:
    return app_server()


@pytest.fixture(scope="module")
def client(server: AppServer) -> Client:
    return Client(server.url, verbose=False)


@pytest.fixture(scope="module")
def store(server: AppServer) -> IndexStore:
    return open_index(server.index_dir)


def check_spans(result: dict[str, Any], store: IndexStore) -> None:
    """Every source and citation span points at exactly its text in the article."""
    sources = {s["number"]: s for s in result["sources"]}
    for src in result["sources"]:
        article = store.article(src["article_id"])
        assert article is not None
        assert article.text[src["start"]:src["end"]] == src["text"]
    for sentence in result["sentences"]:
        for c in sentence["citations"]:
            article = store.article(c["article_id"])
            assert article is not None
            assert article.text[c["start"]:c["end"]] == c["quote"]
            src = sources[c["number"]]
            assert src["article_id"] == c["article_id"]
            assert src["start"] <= c["start"] and c["end"] <= src["end"]


def test_ask_returns_cited_answer(client: Client, store: IndexStore) -> None:
    result = client.predict("Was fordert Lawrow?", api_name="/ask")
    json.dumps(result)  # plain JSON all the way down
    assert not result["refused"]
    assert "Sicherheitsgarantien" in result["answer"]
    assert result["backend"] == "extractive" and result["model"] == "quote-only"
    assert result["sentences"] and all(s["verified"] for s in result["sentences"])
    assert any(s["citations"] for s in result["sentences"])
    assert 1 <= len(result["sources"]) <= 5
    assert {"retrieval_s", "total_s"} <= result["timings"].keys()
    check_spans(result, store)


def test_refuses_off_topic_question(client: Client) -> None:
    result = client.predict(OFF_TOPIC, api_name="/ask")
    assert result["refused"]
    assert result["sentences"] == []
    assert "keine Angaben" in result["answer"]


def test_follow_up_with_history_and_options(client: Client, store: IndexStore) -> None:
    history = [{"role": "user", "content": "Was fordert Lawrow?"},
               {"role": "assistant", "content": "Langfristige Sicherheitsgarantien."}]
    result = client.predict("Und was sagte Blinken dazu?", json.dumps(history), "quote only", 3,
                            api_name="/ask")
    assert not result["refused"]
    assert len(result["sources"]) <= 3
    check_spans(result, store)


def test_filters_through_the_api_report_their_scope(client: Client) -> None:
    result = client.predict("Was fordert Lawrow?", "[]", "quote only", 5, "", "2021-12-01",
                            "2021-12-31", False, api_name="/ask")
    scope = result["scope"]
    assert (scope["searched_articles"], scope["undated_left_out"]) == (2, 2)
    assert scope["text"].endswith("2 undated articles left out (their date is unknown).")
    kept = client.predict("Was fordert Lawrow?", "[]", "quote only", 5, "", "Dezember 2021",
                          "Dezember 2021", True, api_name="/ask")
    assert kept["scope"]["undated_left_out"] == 0 and "Sicherheitsgarantien" in kept["answer"]
    empty = client.predict("Was fordert Lawrow?", "[]", "quote only", 5, "", "2020-01-01",
                           "2020-12-31", False, api_name="/ask")
    assert empty["refused"] and empty["answer"].startswith("No article matches the filter")
    assert client.predict("Was fordert Lawrow?", api_name="/ask")["scope"] is None


def test_errors_come_back_as_messages(client: Client) -> None:
    with pytest.raises(Exception, match="question is empty"):
        client.predict("  ", api_name="/ask")
    with pytest.raises(Exception, match="not valid JSON"):
        client.predict("Was fordert Lawrow?", "[{", api_name="/ask")


def test_eight_concurrent_clients(server: AppServer, store: IndexStore) -> None:
    questions = [*EXPECTED, OFF_TOPIC] * 2
    clients = [Client(server.url, verbose=False) for _ in questions]
    barrier = threading.Barrier(len(questions))

    def run(i: int) -> tuple[str, dict[str, Any], float]:
        barrier.wait()
        started = time.perf_counter()
        result = clients[i].predict(questions[i], api_name="/ask")
        return questions[i], result, time.perf_counter() - started

    with ThreadPoolExecutor(len(questions)) as pool:
        outcomes = list(pool.map(run, range(len(questions))))
    for question, result, _ in outcomes:
        assert result["question"] == question
        if question == OFF_TOPIC:
            assert result["refused"]
        else:
            assert not result["refused"] and EXPECTED[question] in result["answer"]
            check_spans(result, store)
    latencies = sorted(t for _, _, t in outcomes)
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(f"\n8 concurrent /ask clients: p50 {p50:.2f} s, p95 {p95:.2f} s, "
          f"max {latencies[-1]:.2f} s")


def _hit() -> Hit:
    return Hit(chunk_id=0, article_id="a1", ordinal=0, start=0, end=40, text="x" * 40,
               title="T <b>", date="2021-12-08", source="AFP", path="a.txt", score=1.0)


def test_rendering_marks_unverified_and_escapes() -> None:
    cited = Citation(number=1, article_id="a1", chunk_id=0, start=5, end=20, quote="q",
                     support=0.9)
    answer = Answer(
        question="q", text="", refused=False, backend="llamacpp", model="qwen",
        sources=[_hit()], notice="fell back",
        sentences=[AnswerSentence("Belegt <script>.", [cited], verified=True),
                   AnswerSentence("Erfunden.", [], verified=False)],
    )
    html = render_answer(answer)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'class="qa-chip" href="#qa-cite:1|a1|5|20|0|40"' in html
    assert 'class="qa-unverified" title="not supported by the passages">Erfunden.' in html
    assert "embedded · qwen" in html and "fell back" in html

    page = render_article("T", "AFP", "Eins. Zwei <drei>. Vier.", (6, 18), (0, 18), 1)
    assert '<mark id="cited">Zwei &lt;drei&gt;.</mark>' in page
    assert '<span class="qa-chunk">Eins. </span>' in page


def test_a_refusal_offers_its_passages_as_related_not_as_an_answer() -> None:
    refused = Answer(question="q", text="Die Artikel enthalten dazu keine Angaben.", refused=True,
                     backend="llamacpp", model="qwen", sources=[_hit()], sentences=[])
    assert "related, not an answer" in render_sources(refused.sources, refused)
    answered = Answer(question="q", text="x", refused=False, backend="llamacpp", model="qwen",
                      sources=[_hit()], sentences=[])
    assert "not cited" in render_sources(answered.sources, answered)


def test_a_filtered_answer_says_what_it_searched() -> None:
    scope = SearchScope(5, 2, 2, None, "2021-12-01", "2021-12-31")
    answer = Answer(question="q", text="x", refused=False, backend="extractive",
                    model="quote-only", sources=[_hit()], sentences=[], scope=scope)
    html = render_answer(answer)
    assert ('<div class="qa-scope">Searched 2 of 5 articles (dated 2021-12-01 to 2021-12-31); '
            "2 undated articles left out (their date is unknown).</div>") in html
    assert "qa-scope" not in render_answer(Answer(
        question="q", text="x", refused=False, backend="extractive", model="quote-only",
        sources=[], sentences=[]))


def test_an_uncited_card_does_not_repeat_the_cited_sentence() -> None:
    text = "Lawrow forderte Garantien. Blinken warnte vor Folgen. Putin schwieg dazu lange."
    first = Hit(chunk_id=0, article_id="a1", ordinal=0, start=0, end=len(text), text=text,
                title="T", date=None, source="AFP", path="a.txt", score=1.0)
    # an overlapping chunk of the same article, not cited
    second = Hit(chunk_id=1, article_id="a1", ordinal=1, start=27, end=len(text),
                 text=text[27:], title="T", date=None, source="AFP", path="a.txt", score=0.5)
    cited = Citation(number=1, article_id="a1", chunk_id=0, start=27, end=53,
                     quote=text[27:53], support=1.0)
    answer = Answer(question="q", text="", refused=False, backend="extractive",
                    model="quote-only", sources=[first, second],
                    sentences=[AnswerSentence(f"„{text[27:53]}“", [cited], verified=True)])
    cards = render_sources(answer.sources, answer)
    uncited = cards[cards.index("not cited"):]
    assert "Blinken warnte" not in uncited and "Putin schwieg dazu lange." in uncited
    # every card's chip names the article's date and source
    assert 'title="T · undated · AFP"' in cards
