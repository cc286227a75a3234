"""Segmented BM25: the same scores as one index built at once (and as bm25s), kept up to date
by adds and removes, saved with unchanged segments hard-linked."""

from __future__ import annotations

import random
from pathlib import Path

import bm25s
import pytest

from qa.bm25 import BM25FormatError, BM25Index, analyze

WORDS = ("Putin Biden Lawrow Blinken Nato Ukraine Russland Gipfel Forderung Sicherheit "
         "Garantien Truppen Grenze Sanktionen Gespräch Genf Stockholm Kiew Moskau Washington "
         "Osterweiterung Diplomatie Manöver Soldaten Panzer Gas Pipeline Europa").split()


def corpus(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) for _ in range(n)]


def ranking(index: BM25Index, query: str, n: int = 1000, allowed: set[int] | None = None
            ) -> dict[int, float]:
    return dict(index.search(query, n, allowed))


QUERIES = ["Was fordert Putin von der Nato?", "Sanktionen gegen Russland", "Gipfel in Genf",
           "Truppen an der Grenze der Ukraine", "Gas Pipeline Europa Europa", "Eiffelturm"]


def assert_same(a: dict[int, float], b: dict[int, float]) -> None:
    assert a.keys() == b.keys()
    for key, score in a.items():
        assert score == pytest.approx(b[key], rel=1e-4)


def test_scores_equal_bm25s_lucene() -> None:
    texts = corpus(300)
    ours = BM25Index.build(list(range(300)), texts)
    theirs = bm25s.BM25()
    theirs.index([analyze(t) for t in texts], show_progress=False)
    for query in QUERIES[:-1]:
        tokens = [t for t in analyze(query) if t in theirs.vocab_dict]
        rows, scores = theirs.retrieve([tokens], k=300, show_progress=False)
        expected = {int(r): float(s) for r, s in zip(rows[0], scores[0], strict=True) if s > 0}
        assert_same(ranking(ours, query, 300), expected)
    assert ours.search("Eiffelturm", 10) == []


def test_adds_and_removes_score_like_a_fresh_build() -> None:
    texts = corpus(400, seed=1)
    index = BM25Index()
    for start in range(0, 400, 37):  # many small adds: segments and merges
        index.add(list(range(start, min(start + 37, 400))), texts[start:start + 37])
    assert len(index.segments) < 10
    removed = sorted(random.Random(2).sample(range(400), 120))
    index.remove(removed, [texts[i] for i in removed])
    kept = [i for i in range(400) if i not in set(removed)]
    fresh = BM25Index.build(kept, [texts[i] for i in kept])
    assert len(index) == len(fresh) == 280
    for query in QUERIES:
        assert_same(ranking(index, query), ranking(fresh, query))
        assert set(ranking(index, query, 400)).isdisjoint(removed)
    allowed = set(kept[::3])
    assert_same(ranking(index, QUERIES[0], allowed=allowed), ranking(fresh, QUERIES[0],
                                                                      allowed=allowed))
    assert set(ranking(index, QUERIES[0], allowed=allowed)) <= allowed


def test_ids_must_ascend() -> None:
    index = BM25Index.build([5, 6], ["Putin Biden", "Nato Gipfel"])
    with pytest.raises(ValueError, match="ascending"):
        index.add([3], ["Lawrow"])


def test_save_links_unchanged_segments_and_loads_mapped(tmp_path: Path) -> None:
    texts = corpus(200, seed=3)
    first = BM25Index.build(list(range(150)), texts[:150])
    first.save(tmp_path / "g1")
    loaded = BM25Index.load(tmp_path / "g1")
    assert not loaded.segments[0].rows.flags.owndata  # mapped, not read
    loaded.add(list(range(150, 160)), texts[150:160])  # small: a new segment, no merge
    loaded.remove([3], [texts[3]])
    loaded.save(tmp_path / "g2")
    big = tmp_path / "g1" / "seg-0000" / "rows.npy"
    assert big.stat().st_ino == (tmp_path / "g2" / "seg-0000" / "rows.npy").stat().st_ino
    again = BM25Index.load(tmp_path / "g2")
    kept = [i for i in range(160) if i != 3]
    fresh = BM25Index.build(kept, [texts[i] for i in kept])
    for query in QUERIES:
        assert_same(ranking(again, query), ranking(fresh, query))


def test_an_old_bm25s_folder_is_reported_as_such(tmp_path: Path) -> None:
    model = bm25s.BM25()
    model.index([analyze("Putin Biden")], show_progress=False)
    model.save(str(tmp_path / "old"))
    with pytest.raises(BM25FormatError, match="older BM25 index"):
        BM25Index.load(tmp_path / "old")
    (tmp_path / "gone").mkdir()
    with pytest.raises(FileNotFoundError):
        BM25Index.load(tmp_path / "gone")


def test_top_n_with_common_words_is_the_exact_top_n() -> None:
    """The common-word shortcut (MaxScore) returns exactly the best n of a full scoring."""
    rng = random.Random(5)
    common = "der die das und in von mit Russland".split()
    texts = [" ".join(rng.choice(common) for _ in range(rng.randint(20, 60)))
             + " " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 4)))
             for _ in range(2000)]
    index = BM25Index.build(list(range(2000)), texts)
    removed = list(range(0, 2000, 7))
    index.remove(removed, [texts[i] for i in removed])
    queries = ["Was fordert Putin von der Nato in Genf?", "die Sanktionen und das Gas",
               "der die das", "Truppen an der Grenze Russland"]
    for query in queries:
        full = ranking(index, query, 5000)  # n above every match: no shortcut
        best = sorted(full.values(), reverse=True)
        for n in (1, 5, 20):
            top = index.search(query, n)
            assert [s for _, s in top] == pytest.approx(best[:n], rel=1e-5)
            assert all(full[c] == pytest.approx(s, rel=1e-5) for c, s in top)
            assert not set(c for c, _ in top) & set(removed)
