"""The approximate (IVF) vector index: switching at the threshold, recall, add and remove.

The threshold is set low (a few hundred vectors) so the IVF path runs in CI. Most tests write
generations directly with synthetic clustered vectors (no model, fast); one builds the sample
articles end to end with the real model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from qa import dense_index
from qa.dense_index import DenseParams
from qa.embedding import Embedder
from qa.indexing import build_index
from qa.retrieval import Retriever
from qa.schema import Article, Chunk
from qa.search_backend import LocalSearch
from qa.settings import Settings
from qa.store import GenerationWriter, IndexStore, Manifest, current_folder, open_index

DIM = 32
PARAMS = DenseParams(min_vectors=200, nprobe=8)


def clustered(n: int, seed: int, centres: int = 20) -> np.ndarray:
    """Unit vectors around a few centres, like topics in a news archive."""
    rng = np.random.default_rng(seed)
    middle = np.random.default_rng(0).standard_normal((centres, DIM))
    out = middle[rng.integers(0, centres, n)] + 0.35 * rng.standard_normal((n, DIM))
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype("float32")


class Corpus:
    """Writes generations of synthetic articles (2 chunks each) and remembers their vectors."""

    def __init__(self, index_dir: Path, params: DenseParams = PARAMS) -> None:
        self.index_dir = index_dir
        self.params = params
        self.vectors: dict[int, np.ndarray] = {}  # live chunk id -> vector
        self.chunks_of: dict[str, list[int]] = {}
        self.next_id = 0
        self.seed = 0

    def publish(self, add: int = 0, remove: list[str] | None = None) -> Path:
        base = current_folder(self.index_dir)
        writer = GenerationWriter(self.index_dir, base, DIM, self.params)
        gone = remove or []
        writer.remove_articles(gone)
        for aid in gone:
            for cid in self.chunks_of.pop(aid):
                del self.vectors[cid]
        self.seed += 1
        vectors = clustered(add * 2, self.seed)
        for i in range(add):
            aid = f"a{self.next_id}"
            text = f"Artikel {aid} Satz eins. Satz zwei."
            writer.add_article(Article(aid, f"/x/{aid}.txt", f"Titel {aid}", text,
                                       content_hash=aid))
            ids = [self.next_id, self.next_id + 1]
            chunks = [Chunk(aid, 0, 0, 17, text[:17]), Chunk(aid, 1, 18, len(text), text[18:])]
            writer.add_chunks(ids, chunks, vectors[2 * i:2 * i + 2])
            self.chunks_of[aid] = ids
            self.vectors.update(zip(ids, vectors[2 * i:2 * i + 2], strict=True))
            self.next_id += 2
        manifest = Manifest("test-model", DIM, "", "", {}, next_chunk_id=self.next_id)
        return writer.publish(manifest)

    def exact_top(self, query: np.ndarray, k: int, allowed: set[int] | None = None) -> list[int]:
        ids = [c for c in self.vectors if allowed is None or c in allowed]
        scores = np.stack([self.vectors[c] for c in ids]) @ query
        return [ids[i] for i in np.argsort(-scores)[:k]]


def store_of(corpus: Corpus) -> IndexStore:
    store = open_index(corpus.index_dir)  # also checks vectors == BM25 rows == chunks
    assert store.search.count() == len(corpus.vectors)
    return store


def dense_of(store: IndexStore) -> dense_index.DenseIndex:
    assert isinstance(store.search, LocalSearch)
    return store.search.dense_index


def kind(store: IndexStore) -> str:
    return dense_index.read_info(store.folder).kind


def test_a_large_generation_is_ivf_and_finds_what_exact_search_finds(tmp_path: Path) -> None:
    corpus = Corpus(tmp_path / "index")
    corpus.publish(add=300)  # 600 vectors, threshold 200
    store = store_of(corpus)
    assert kind(store) == "ivf"
    queries = clustered(50, seed=99)
    recall, top1 = [], []
    for q in queries:
        found = [c for c, _ in dense_of(store).search(q, 10, None, PARAMS.nprobe)]
        truth = corpus.exact_top(q, 10)
        recall.append(len(set(found) & set(truth)) / 10)
        top1.append(found[0] == truth[0])
    assert np.mean(recall) >= 0.9
    assert np.mean(top1) >= 0.9


def test_add_and_remove_work_on_the_ivf_index(tmp_path: Path) -> None:
    corpus = Corpus(tmp_path / "index")
    corpus.publish(add=300)
    trained = dense_index.read_info(store_of(corpus).folder)
    removed = [f"a{i}" for i in range(0, 200, 2)]  # 100 articles, 200 vectors
    removed_ids = {c for a in removed for c in corpus.chunks_of[a]}
    removed_vectors = [corpus.vectors[c] for c in sorted(removed_ids)]
    corpus.publish(add=50, remove=removed)
    store = store_of(corpus)
    info = dense_index.read_info(store.folder)
    assert info == trained  # same quantiser: no retrain for a small change
    for vector in removed_vectors:  # a removed chunk never comes back, even for its own vector
        found = {c for c, _ in dense_of(store).search(vector, 50, None, 64)}
        assert not found & removed_ids
    new_ids = list(range(600, 700))
    own = [dense_of(store).search(corpus.vectors[c], 1, None, PARAMS.nprobe)[0][0]
           for c in new_ids]
    assert np.mean([a == b for a, b in zip(own, new_ids, strict=True)]) >= 0.95
    assert {r[0] for r in store.db.execute("SELECT id FROM articles")}.isdisjoint(removed)


def test_a_small_change_links_the_ivf_lists_and_keeps_the_change_beside_them(
    tmp_path: Path,
) -> None:
    """Adding or removing a few articles writes only the change: the lists (1.5 GB at a
    million vectors) are hard-linked into the next generation until the change is as large
    as what one query scans; then it is folded in."""
    corpus = Corpus(tmp_path / "index")
    first = corpus.publish(add=300)
    second = corpus.publish(add=5, remove=["a0", "a2"])
    assert (first / "dense.faiss").stat().st_ino == (second / "dense.faiss").stat().st_ino
    assert (second / "dense-delta.faiss").is_file() and (second / "dense-removed.npy").is_file()
    store = store_of(corpus)
    for cid, vector in list(corpus.vectors.items())[-10:]:  # the new ones are found at once
        assert dense_of(store).search(vector, 1, None, PARAMS.nprobe)[0][0] == cid
    gone = {0, 1, 2, 3}  # chunks of a0 and a2: never returned, filtered or not
    for q in clustered(20, seed=7):
        assert gone.isdisjoint(c for c, _ in dense_of(store).search(q, 50, None, PARAMS.nprobe))
        assert gone.isdisjoint(c for c, _ in dense_of(store).search(q, 50, {0, 1, 4, 5}, 8))
    scan = 600 * PARAMS.nprobe // dense_index.read_info(second).nlist
    third = corpus.publish(add=scan // 2)  # the change now exceeds one query's scan: folded
    assert not (third / "dense-delta.faiss").exists()
    assert not (third / "dense-removed.npy").exists()
    assert (second / "dense.faiss").stat().st_ino != (third / "dense.faiss").stat().st_ino
    store = store_of(corpus)
    assert dense_index.read_info(store.folder).trained_on == 600  # folded, not retrained
    for cid, vector in corpus.vectors.items():
        assert dense_of(store).search(vector, 1, None, 64)[0][0] == cid


def test_crossing_the_threshold_switches_between_exact_and_ivf(tmp_path: Path) -> None:
    corpus = Corpus(tmp_path / "index")
    corpus.publish(add=50)  # 100 vectors
    assert kind(store_of(corpus)) == "exact"
    corpus.publish(add=60)  # 220: crosses 200
    store = store_of(corpus)
    assert kind(store) == "ivf"
    assert dense_index.read_info(store.folder).trained_on == 220
    corpus.publish(add=200)  # 620 > 2 x 220: the quantiser is retrained for the new size
    info = dense_index.read_info(store_of(corpus).folder)
    assert (info.kind, info.trained_on) == ("ivf", 620)
    corpus.publish(remove=list(corpus.chunks_of)[:230])  # 160: above half the threshold
    assert kind(store_of(corpus)) == "ivf"
    corpus.publish(remove=list(corpus.chunks_of)[:70])  # 20: exact again
    store = store_of(corpus)
    assert kind(store) == "exact"
    for cid, vector in corpus.vectors.items():  # exact again: every vector finds itself
        assert dense_of(store).search(vector, 1, None, 1)[0][0] == cid


def test_a_narrow_filter_on_ivf_searches_its_vectors_exactly(tmp_path: Path) -> None:
    corpus = Corpus(tmp_path / "index")
    corpus.publish(add=300)
    store = store_of(corpus)
    allowed = set(range(0, 600, 37))
    for q in clustered(10, seed=5):
        found = [c for c, _ in dense_of(store).search(q, 5, allowed, PARAMS.nprobe)]
        assert found == corpus.exact_top(q, 5, allowed)


def test_a_truncated_ivf_file_is_damaged_not_a_crash(tmp_path: Path) -> None:
    corpus = Corpus(tmp_path / "index")
    folder = corpus.publish(add=300)
    path = folder / "dense.faiss"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(Exception, match="damaged"):
        open_index(corpus.index_dir)


def test_the_sample_articles_over_ivf_answer_like_exact_search(
    tmp_path: Path, embedder: Embedder, sample_index: Settings,
    make_settings: Callable[..., Settings], copy_samples: Callable[[], Path],
) -> None:
    folder = copy_samples()
    settings = make_settings(tmp_path, ann_min_vectors=20, ann_nprobe=16)
    build_index(settings, [folder], embedder=embedder)
    store = open_index(settings.index_dir)
    assert kind(store) == "ivf"
    ann, exact = Retriever(settings, embedder), Retriever(sample_index, embedder)
    for question in ("Was fordert Lawrow?", "Wie lange dauerte der Videogipfel?",
                     "Wann treffen sich Vertreter der USA und Russlands in Genf?"):
        a, e = ann.search(question), exact.search(question)
        assert (a[0].text, a[0].title) == (e[0].text, e[0].title)
    gone = sorted(folder.iterdir())[0]
    gone.unlink()
    report = build_index(settings, [folder], embedder=embedder)
    assert report.articles_removed == 1
    store = open_index(settings.index_dir)
    assert kind(store) == "ivf"
    assert all(Path(h.path).name != gone.name for h in ann.search("Was fordert Lawrow?", k=10))
