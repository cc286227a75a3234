"""Hybrid retrieval over the sample index: ranking, filters, duplicates and hit metadata,
on the local backend and on Milvus alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qa.embedding import Embedder
from qa.indexing import build_index
from qa.retrieval import Filters, Retriever, collapse_near_duplicates
from qa.schema import Hit
from qa.settings import Settings
from qa.store import open_index


@pytest.fixture(scope="module", params=["local", "milvus"])
def retriever(request: pytest.FixtureRequest, embedder: Embedder) -> Retriever:
    """Every test below runs on both backends: FAISS + BM25 files, and Milvus (Lite)."""
    name = "sample_index" if request.param == "local" else "sample_milvus_index"
    return Retriever(request.getfixturevalue(name), embedder)


def prefix(hit: Hit) -> str:
    return Path(hit.path).name[:3]


def test_lawrow_question_finds_the_lawrow_passage_first(retriever: Retriever) -> None:
    hits = retriever.search("Was fordert Lawrow?")
    assert len(hits) == retriever.settings.top_k
    assert prefix(hits[0]) == "000"
    assert (
        "Lawrow forderte im Gespräch mit dem US-Außenminister “langfristige "
        "Sicherheitsgarantien”"
    ) in hits[0].text
    assert hits[0].dense_rank is not None and hits[0].bm25_rank is not None
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize(
    ("question", "article", "needle"),
    [
        ("Wie lange dauerte der Videogipfel?", "004", "gut zweistündigen Gespräch"),
        ("Wie viele russische Soldaten stehen an der ukrainischen Grenze?", "002",
         "100 000 russischen Soldaten"),
        ("Wann treffen sich Vertreter der USA und Russlands in Genf?", "001", "10. Januar"),
    ],
)
def test_other_questions_find_their_passage_in_the_top_three(
    retriever: Retriever, question: str, article: str, needle: str
) -> None:
    hits = retriever.search(question, k=3)
    assert any(prefix(h) == article and needle in h.text for h in hits), [h.text for h in hits]


@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_single_modes_return_ranked_hits(retriever: Retriever, mode: str) -> None:
    query = "Lawrow Sicherheitsgarantien Nato-Osterweiterung"
    hits = retriever.search(query, k=3, mode=mode)  # type: ignore[arg-type]
    assert hits
    if mode == "dense":
        assert all(h.dense_rank is not None and h.bm25_rank is None for h in hits)
    else:
        assert all(h.bm25_rank is not None and h.dense_rank is None for h in hits)
        assert prefix(hits[0]) == "000"


def test_hits_carry_metadata_and_offsets_that_match_the_article(retriever: Retriever) -> None:
    store = retriever.store
    hits = retriever.search("Biden Putin Sanktionen Ukraine", k=10)
    assert len(hits) == 10
    for hit in hits:
        article = store.article(hit.article_id)
        assert article is not None
        assert article.text[hit.start:hit.end] == hit.text
        assert (hit.title, hit.date, hit.source, hit.path) == (
            article.title, article.date, article.source, article.path
        )
    by_prefix = {prefix(h): h for h in hits}
    if "004" in by_prefix:
        hit = by_prefix["004"]
        assert (hit.title, hit.date, hit.source) == (
            "Videogipfel zu Ukraine-Konflikt Dialog ohne Zugeständnisse", "2021-12-08",
            "tagesschau",
        )


@pytest.mark.parametrize(
    ("source", "articles"),
    [
        ("AFP", {"000", "001"}),
        ("afp", {"000", "001"}),
        ("dpa", {"001"}),  # "AFP/dpa"; dpa-AFX is another name
        ("dpa-AFX", {"002"}),
        ("tagesschau", {"004"}),
    ],
)
def test_source_filter(retriever: Retriever, source: str, articles: set[str]) -> None:
    hits = retriever.search("Ukraine Russland Blinken Biden", k=20, filters=Filters(source=source))
    assert {prefix(h) for h in hits} == articles
    assert all(source.lower() in h.source.lower().split("/") for h in hits if h.source)


def test_source_filter_with_unknown_source_returns_nothing(retriever: Retriever) -> None:
    assert retriever.search("Ukraine", filters=Filters(source="AP")) == []
    assert retriever.search("Ukraine", filters=Filters(source="Reuters")) == []


@pytest.mark.parametrize(
    ("date_from", "date_to", "articles"),
    [
        ("2022-01-01", None, {"002"}),
        (None, "2021-12-31", {"001", "004"}),
        ("2021-12-08", "2021-12-08", {"001", "004"}),  # 001 is dated "2021-12": it may be
        ("2021-12-09", "2021-12-31", {"001"}),
        ("2021-12", "2021-12", {"001", "004"}),  # a month includes its days
        ("2021-11-01", "2021-11-30", set()),
        ("2023-01-01", None, set()),
    ],
)
def test_date_filter(
    retriever: Retriever, date_from: str | None, date_to: str | None, articles: set[str]
) -> None:
    filters = Filters(date_from=date_from, date_to=date_to)
    hits = retriever.search("Ukraine Russland Biden Putin Blinken", k=20, filters=filters)
    assert {prefix(h) for h in hits} == articles
    for hit in hits:  # the article's date (a day or a month) overlaps the range
        assert hit.date is not None
        assert date_from is None or hit.date >= date_from[: len(hit.date)]
        assert date_to is None or hit.date[: len(date_to)] <= date_to


def test_source_and_date_filters_combine(retriever: Retriever) -> None:
    filters = Filters(source="AFP", date_from="2021-12-01")
    hits = retriever.search("Ukraine", k=20, filters=filters)
    assert {prefix(h) for h in hits} == {"001"}


def test_a_date_filter_can_keep_undated_articles(retriever: Retriever) -> None:
    filters = Filters(date_from="2021-12-01", date_to="2021-12-31", include_undated=True)
    hits = retriever.search("Ukraine Russland Biden Putin Blinken", k=20, filters=filters)
    # 000 and 003 state no date: kept beside the December articles, 002 (January) still out
    assert {prefix(h) for h in hits} == {"000", "001", "003", "004"}


def test_scope_counts_what_a_filter_searched_and_left_out(retriever: Retriever) -> None:
    assert retriever.scope(None) is None
    assert retriever.scope(Filters()) is None
    scope = retriever.scope(Filters(date_from="2021-12-01", date_to="2021-12-31"))
    assert scope is not None
    assert (scope.total_articles, scope.searched_articles, scope.undated_left_out) == (5, 2, 2)
    assert scope.describe() == (
        "Searched 2 of 5 articles (dated 2021-12-01 to 2021-12-31); 2 undated articles left "
        "out (their date is unknown)."
    )
    kept = retriever.scope(Filters(date_from="2021-12-01", date_to="2021-12-31",
                                   include_undated=True))
    assert kept is not None and (kept.searched_articles, kept.undated_left_out) == (4, 0)
    assert "undated articles included" in kept.describe()
    # the source filter alone leaves no undated article out; with a date it counts only
    # that source's undated ones (000 is AFP and undated)
    only_source = retriever.scope(Filters(source="AFP"))
    assert only_source is not None and only_source.undated_left_out == 0
    afp = retriever.scope(Filters(source="AFP", date_from="2021-12-01"))
    assert afp is not None and (afp.searched_articles, afp.undated_left_out) == (1, 1)


def test_scope_of_a_filter_that_leaves_nothing_says_exactly_that(retriever: Retriever) -> None:
    scope = retriever.scope(Filters(date_from="2021-11-01", date_to="2021-11-30"))
    assert scope is not None and scope.searched_articles == 0
    assert scope.empty_message() == (
        "No article matches the filter: none of the 5 indexed articles is dated 2021-11-01 "
        "to 2021-11-30. 2 undated articles were left out because their date is unknown."
    )


def test_overlapping_chunks_of_one_article_are_collapsed(retriever: Retriever) -> None:
    hits = retriever.search("Lawrow forderte langfristige Sicherheitsgarantien", k=10)
    for i, a in enumerate(hits):
        for b in hits[i + 1:]:
            if a.article_id == b.article_id:
                overlap = min(a.end, b.end) - max(a.start, b.start)
                assert overlap <= 0.5 * min(a.end - a.start, b.end - b.start)


def test_empty_question_is_refused(retriever: Retriever) -> None:
    with pytest.raises(ValueError, match="empty"):
        retriever.search("   ")


SYNDICATED = (
    "Russlands Außenminister Sergej Lawrow hat von den USA schriftliche Sicherheitsgarantien "
    "verlangt. Die Nato dürfe sich nicht weiter nach Osten ausdehnen, sagte Lawrow am Freitag "
    "nach dem Treffen mit seinem amerikanischen Kollegen Antony Blinken in Genf."
)


def test_syndicated_copies_collapse_to_one_hit(
    tmp_path: Path, embedder: Embedder, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    variant = SYNDICATED.replace("am Freitag", "am Freitagabend")
    variant = variant.replace("Kollegen", "Amtskollegen")
    (folder / "agentur.txt").write_text(f"Lawrow verlangt Garantien\n\n{SYNDICATED}\n", "utf-8")
    (folder / "zeitung.txt").write_text(
        f"Moskau stellt Forderungen an Washington\n\nGENF (AFP) - {variant}\n", "utf-8"
    )
    (folder / "anderes.txt").write_text(
        "Nato-Gipfel in Brüssel\n\nDie Nato berät in Brüssel über die Ostflanke. "
        "Generalsekretär Stoltenberg sprach von einer ernsten Lage.\n", "utf-8"
    )
    settings = make_settings(tmp_path)
    build_index(settings, [folder], embedder=embedder)
    store = open_index(settings.index_dir)
    assert store.counts() == (3, 3)  # both copies are indexed (their text differs)...
    query = "Was verlangt Lawrow von den USA?"
    raw = store.search.lexical(query, 10, None)
    assert len({cid for cid, _ in raw}) >= 2
    hits = Retriever(settings, embedder).search(query, k=3)
    names = [Path(h.path).name for h in hits]
    # ...but a search shows the passage once, then the next different one
    assert len({"agentur.txt", "zeitung.txt"} & set(names)) == 1
    assert names[1:] == ["anderes.txt"]


def test_collapse_keeps_the_better_hit_and_distinct_ones() -> None:
    def hit(n: int, article: str, start: int, text: str) -> Hit:
        return Hit(chunk_id=n, article_id=article, ordinal=0, start=start,
                   end=start + len(text), text=text, title="T", date=None, source=None,
                   path=f"/{article}.txt", score=1.0 / n)

    other = "Die Nato berät in Brüssel über die Ostflanke."
    hits = [
        hit(1, "a", 0, SYNDICATED),
        hit(2, "b", 10, SYNDICATED.replace("Freitag", "Samstag")),
        hit(3, "a", 40, SYNDICATED[40:]),  # mostly the same span of article a
        hit(4, "c", 0, other),
    ]
    kept = collapse_near_duplicates(hits, k=5)
    assert [h.chunk_id for h in kept] == [1, 4]
    assert [h.chunk_id for h in collapse_near_duplicates(hits, k=1)] == [1]


def test_a_period_in_the_question_ranks_passages_from_then_first(retriever: Retriever) -> None:
    question = "Was sagte Lawrow im Januar 2022?"
    period = retriever.question_period(question)
    assert period is not None and (period.start, period.end) == ("2022-01-01", "2022-01-31")
    plain = retriever.search(question, k=5)
    timed = retriever.search(question, k=5, period=period)
    rank = {h.chunk_id: r for r, h in enumerate(plain)}
    january = [h for h in timed if h.date == "2022-01-21"]
    assert january, "the January article must be among the top 5"
    # passages of the January article rise, nothing is dropped for being undated
    assert all(timed.index(h) <= rank.get(h.chunk_id, 99) for h in january)
    assert any(h.date is None for h in timed)


def test_a_user_date_filter_wins_over_the_question(retriever: Retriever) -> None:
    filters = Filters(date_from="2021-12-01", date_to="2021-12-31")
    assert retriever.question_period("Was sagte Lawrow im Januar 2022?", filters) is None
    assert retriever.question_period("Was sagte Lawrow?") is None


def test_an_event_in_the_question_is_dated_by_the_articles(retriever: Retriever) -> None:
    period = retriever.question_period("Was sagte Blinken nach dem Videogipfel?")
    # the earliest dated article naming the summit is the tagesschau report of 8 December
    assert period is not None and (period.start, period.end) == ("2021-12-08", None)
