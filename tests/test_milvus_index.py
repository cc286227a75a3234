"""MilvusIndex on Milvus Lite: counts, dense and (client-stemmed) BM25 search, filters with
exactly the rows of the SQLite filter, reopening, and agreement with `qa.bm25`."""

from __future__ import annotations

import itertools
import random
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from qa.bm25 import BM25Index
from qa.milvus_index import MilvusIndex, MilvusRow, Where, filter_expression

DIM = 16
COLLECTION = "chunks"

# (title, text, source, date)
ARTICLES = [
    ("Putin stellt Forderung an die Nato", "Der Kreml verlangt Sicherheitsgarantien vom Westen.",
     "AFP", "2021-12-08"),
    ("Biden warnt Russland", "Washington droht mit Sanktionen, falls Truppen einmarschieren.",
     "AFP/dpa", "2021-12"),
    ("Gipfel in Genf", "Lawrow und Blinken sprechen über die Lage an der Grenze.",
     "APA", "2022-01-10"),
    ("Gasstreit um Nord Stream", "Die Pipeline bleibt vorerst ohne Genehmigung.",
     None, "2021-12-07"),
    ("Manöver an der Grenze", "Soldaten und Panzer stehen nahe der Ukraine.",
     "dpa", None),
    ("Europa sucht Einigkeit", "Die Außenminister beraten in Brüssel über Diplomatie.",
     "AP", "2022-01"),
    ("Kiew bittet um Waffen", "Die Ukraine fordert Unterstützung aus Europa.",
     "Reuters/AP", "2021-11-30"),
    ("Moskau weist Vorwürfe zurück", "Putins Sprecher nennt die Berichte Hysterie.",
     "ÖRF", "2021-12-31"),
    ("Sanktionen gegen Banken", "Die Europäische Union bereitet neue Maßnahmen vor.",
     "a_p", "2022-02"),
    ("Gespräche in Stockholm", "Die OSZE lädt zu einem Treffen der Außenminister.",
     'Q"uo\\te', "2021-12-02"),
    ("Nato lehnt Osterweiterungsstopp ab", "Die Allianz bleibt offen für neue Mitglieder.",
     "", "2022-01-10"),
    ("Energiepreise steigen", "Verbraucher zahlen mehr für Gas und Strom.",
     "dpa/AFP", ""),
]


def rows() -> list[MilvusRow]:
    return [MilvusRow(f"a{i}", source, date, f"{title}\n{text}")
            for i, (title, text, source, date) in enumerate(ARTICLES)]


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    matrix = np.random.default_rng(seed).standard_normal((n, DIM)).astype("float32")
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return str(tmp_path / "milvus.db")


@pytest.fixture
def index(uri: str):
    index = MilvusIndex(uri, COLLECTION, DIM)
    index.add(list(range(1, len(ARTICLES) + 1)), rows(), unit_vectors(len(ARTICLES)))
    yield index
    index.close()


def ids(hits: list[tuple[int, float]]) -> list[int]:
    return [chunk_id for chunk_id, _ in hits]


def test_count_follows_add_and_remove(index: MilvusIndex) -> None:
    assert index.count() == len(ARTICLES)
    index.remove([2, 5, 999])  # an unknown id is ignored
    assert index.count() == len(ARTICLES) - 2
    index.add([2], rows()[1:2], unit_vectors(1, seed=7))
    assert index.count() == len(ARTICLES) - 1
    index.add([2], rows()[1:2], unit_vectors(1, seed=8))  # the same id again replaces it
    assert index.count() == len(ARTICLES) - 1


def test_dense_finds_own_vector_first(index: MilvusIndex) -> None:
    vectors = unit_vectors(len(ARTICLES))
    for row, vector in enumerate(vectors):
        hits = index.dense(vector, 3)
        assert hits[0][0] == row + 1
        assert hits[0][1] == pytest.approx(1.0, abs=1e-4)  # cosine of a unit vector with itself
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert len(index.dense(vectors[0], 100)) == len(ARTICLES)
    assert index.dense(vectors[0], 0) == []
    with pytest.raises(ValueError, match="dimensions"):
        index.dense(np.ones(DIM + 1), 3)


def test_lexical_finds_stemmed_forms(index: MilvusIndex) -> None:
    # Lite's analyzers do not stem: these only match because text and query are stemmed here
    assert ids(index.lexical("Forderungen", 5)) == [1]  # the row says "Forderung"
    assert set(ids(index.lexical("Putins", 5))) == {1, 8}  # "Putin" and "Putins"
    assert ids(index.lexical("Garantien des Kremls", 5))[0] == 1  # "Kreml"
    hits = index.lexical("Ukraine Grenze", 10)
    assert hits and all(score > 0 for _, score in hits)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert index.lexical("Eiffelturm", 5) == []  # no query term indexed
    assert index.lexical("?!", 5) == []  # no term at all
    assert index.lexical("Putin", 0) == []


def test_removed_ids_never_come_back(index: MilvusIndex) -> None:
    vectors = unit_vectors(len(ARTICLES))
    index.remove([1, 8])
    for row, vector in enumerate(vectors):
        found = ids(index.dense(vector, 100))
        assert 1 not in found and 8 not in found
        assert len(found) == len(ARTICLES) - 2
        if row + 1 not in (1, 8):
            assert found[0] == row + 1
    assert index.lexical("Putins Forderungen", 10) == []
    assert 1 not in ids(index.lexical("Nato", 10, Where(source="AFP")))


def test_upsert_replaces_text_and_vector(index: MilvusIndex) -> None:
    index.add([3], [MilvusRow("a2", "APA", "2022-01-10", "Neuer Titel\nEiffelturm")],
              unit_vectors(1, seed=99))
    assert ids(index.lexical("Eiffelturm", 5)) == [3]
    assert index.lexical("Lawrow", 5) == []
    assert index.dense(unit_vectors(1, seed=99)[0], 1)[0][0] == 3


# ---------------------------------------------------------------------------- filters

def filter_sql(source: str | None, date_from: str | None, date_to: str | None,
               include_undated: bool) -> tuple[str, list[str]]:
    """The local index's own filter (what MilvusIndex must reproduce), not a copy of it."""
    from qa.store import _filter_sql

    return _filter_sql(source, date_from, date_to, include_undated)


def is_pattern(where: Where) -> bool:
    """Whether the SQL reads the wanted source as a LIKE pattern, not as one name."""
    return any(c in (where.source or "").strip() for c in "/%_")


def python_filter(row: MilvusRow, where: Where) -> bool:
    """The SQL's semantics by hand (for a source that is no pattern): one whole "/"-separated
    name, ASCII case folded as SQLite does; a date range matches what it overlaps."""
    if where.source:
        names = None if row.source is None else row.source.translate(
            str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")).split("/")
        if names is None or where.source.strip().lower() not in names:
            return False
    if where.date_from or where.date_to:
        if row.date is None:
            return where.include_undated
        if where.date_from and not row.date + "\uffff" >= where.date_from:
            return False
        if where.date_to and not row.date <= where.date_to + "\uffff":
            return False
    return True


SOURCES = [None, "", "AFP", "afp", " Afp ", "dpa", "DPA", "AP", "ap", "APA", "Reuters",
           "ÖRF", "örf", "AFP/dpa", "afp/dpa", "dpa/afp", "a_p", "a%", "%", "  ", 'q"uo\\te',
           "nobody"]
DATES = [(None, None), ("2021-12", None), ("2021-12-08", None), ("2021-12-09", None),
         (None, "2021-12"), (None, "2021-12-07"), (None, "2021-12-08"),
         ("2021-12-08", "2021-12-08"), ("2021-12", "2022-01"), ("2022-01-10", "2022-01-10"),
         ("2021-12-31", "2022-01-09"), ("2022", None), ("", "2022-01-10")]


def test_filters_match_sqlite(index: MilvusIndex) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE articles (id INTEGER, source TEXT, date TEXT)")
    db.executemany("INSERT INTO articles VALUES (?, ?, ?)",
                   [(i + 1, row.source, row.date) for i, row in enumerate(rows())])
    query = unit_vectors(1, seed=3)[0]
    checked = 0
    for source, (date_from, date_to), undated in itertools.product(SOURCES, DATES,
                                                                   (False, True)):
        where = Where(source, date_from, date_to, undated)
        sql, args = filter_sql(source, date_from, date_to, undated)
        expected = {r[0] for r in db.execute(f"SELECT a.id FROM articles a WHERE {sql}", args)}
        if not is_pattern(where):
            assert {i + 1 for i, row in enumerate(rows()) if python_filter(row, where)} \
                == expected, where
        got = set(ids(index.dense(query, 100, where)))
        assert got == expected, (where, filter_expression(where))
        checked += 1
    assert checked == len(SOURCES) * len(DATES) * 2
    # spot checks of the rules the table above exercises
    assert set(ids(index.dense(query, 100, Where(source="AP")))) == {6, 7}  # not APA
    assert set(ids(index.dense(query, 100, Where(source="dpa")))) == {2, 5, 12}
    one_day = Where(date_from="2021-12-08", date_to="2021-12-08")
    assert set(ids(index.dense(query, 100, one_day))) == {1, 2, 12}  # its month; "" is a date


def test_filters_apply_to_lexical(index: MilvusIndex) -> None:
    assert set(ids(index.lexical("Putin", 10))) == {1, 8}
    assert ids(index.lexical("Putin", 10, Where(source="afp"))) == [1]
    assert ids(index.lexical("Putin", 10, Where(date_from="2021-12-09"))) == [8]
    assert index.lexical("Putin", 10, Where(date_to="2021-11")) == []
    assert ids(index.lexical("Manöver", 10, Where(date_to="2021-11"))) == []  # undated
    assert ids(index.lexical("Manöver", 10, Where(date_to="2021-11", include_undated=True))) \
        == [5]


# ---------------------------------------------------------------------------- lifetime

def test_reopen_sees_the_same_rows(uri: str) -> None:
    vectors = unit_vectors(len(ARTICLES))
    with MilvusIndex(uri, COLLECTION, DIM) as index:
        index.add(list(range(1, len(ARTICLES) + 1)), rows(), vectors)
        index.remove([4])
        before = (index.lexical("Ukraine", 10), index.dense(vectors[2], 5))
    # Lite keeps one server per path for the life of the process: stop it, as a restart would,
    # so that reopening reads the rows back from disk
    from milvus_lite.server_manager import server_manager_instance
    server_manager_instance.release_server(uri)
    with MilvusIndex(uri, COLLECTION, DIM) as index:
        assert index.count() == len(ARTICLES) - 1
        after = (index.lexical("Ukraine", 10), index.dense(vectors[2], 5))
        assert [ids(h) for h in after] == [ids(h) for h in before]
        assert 4 not in ids(index.dense(vectors[3], 100))


def test_dimension_mismatch_on_reopen_is_a_clear_error(uri: str) -> None:
    MilvusIndex(uri, COLLECTION, DIM).close()
    with pytest.raises(ValueError, match=r"holds 16-dimensional vectors, not 8"):
        MilvusIndex(uri, COLLECTION, 8)
    with MilvusIndex(uri, "other", 8) as other:  # another collection is independent
        assert other.count() == 0


def test_drop_removes_the_collection(uri: str) -> None:
    index = MilvusIndex(uri, COLLECTION, DIM)
    index.add([1], rows()[:1], unit_vectors(1))
    index.drop()
    index.close()
    with MilvusIndex(uri, COLLECTION, 8) as fresh:  # made anew, any dimension
        assert fresh.count() == 0


def test_bad_input_is_refused(index: MilvusIndex) -> None:
    with pytest.raises(ValueError, match="vectors"):
        index.add([100, 101], rows()[:2], unit_vectors(1))
    with pytest.raises(ValueError, match="shape"):
        index.add([100], rows()[:1], np.ones((1, DIM + 1)))


def test_missing_pymilvus_names_the_extra(monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[milvus\]"'):
        MilvusIndex(uri, COLLECTION, DIM)


# ---------------------------------------------------------------------------- BM25 agreement

WORDS = ("Putin Biden Lawrow Blinken Nato Ukraine Russland Gipfel Forderung Forderungen "
         "Sicherheit Garantien Truppen Grenze Sanktionen Gespräch Gespräche Genf Stockholm Kiew "
         "Moskau Washington Osterweiterung Diplomatie Manöver Soldaten Panzer Gas Pipeline "
         "Europa der die das und mit").split()
QUERIES = ["Was fordert Putin von der Nato?", "Sanktionen gegen Russland", "Gipfel in Genf",
           "Truppen an der Grenze der Ukraine", "Gas Pipeline Europa Europa", "Forderungen",
           "Gespräche in Stockholm", "Biden und Putin", "Panzer Soldaten Manöver",
           "Sicherheit Garantien", "Diplomatie Europa", "Kiew Moskau", "Osterweiterung der Nato",
           "Lawrow Blinken Genf", "Washington", "Russland Ukraine Grenze", "Gas",
           "die Sanktionen der Europa", "Truppen Panzer Grenze Kiew", "Nato Gipfel Sicherheit"]


def test_bm25_ranks_as_qa_bm25(uri: str) -> None:
    """Lite scores with the same formula (Lucene's IDF, k1=1.5, b=0.75) and, while every row is
    in its memtable (not flushed) and no filter is set, the same statistics: its scores are
    qa.bm25's times k1 + 1, so the rankings agree (up to the order of tied scores)."""
    rng = random.Random(0)
    n = 200
    texts = [f"{rng.choice(WORDS)} {rng.choice(WORDS)}\n"
             + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) for _ in range(n)]
    chunk_ids = list(range(1, n + 1))
    ours = BM25Index.build(chunk_ids, texts)
    with MilvusIndex(uri, COLLECTION, DIM) as index:
        index.add(chunk_ids, [MilvusRow(f"a{i}", None, None, t) for i, t in enumerate(texts)],
                  unit_vectors(n))
        for removed in ([], chunk_ids[::10]):
            index.remove(removed)
            ours.remove(removed, [texts[i - 1] for i in removed])
            for query in QUERIES:
                theirs, mine = index.lexical(query, 10), ours.search(query, 10)
                assert [s for _, s in theirs] == pytest.approx([2.5 * s for _, s in mine],
                                                               rel=1e-4), query
                last = mine[-1][1]  # ids tied with the last score may differ
                assert {i for i, s in theirs if s > 2.5 * last * (1 + 1e-4)} \
                    == {i for i, s in mine if s > last * (1 + 1e-4)}, query
                assert ids(theirs)[:1] == ids(mine)[:1], query
