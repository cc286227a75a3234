"""`QA_STORE=milvus` end to end on Milvus Lite: incremental updates, moving an index from local
files without re-embedding, aborted builds and collection clean-up.

The retrieval tests themselves run on both backends (`tests/test_retrieval.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from qa.embedding import Embedder
from qa.indexing import build_index
from qa.milvus_backend import MilvusSearch, milvus_uri
from qa.retrieval import Retriever
from qa.schema import Article, Chunk
from qa.search_backend import LocalSearch, search_config
from qa.settings import Settings
from qa.store import GenerationWriter, current_folder, open_index

LAWROW = "Was fordert Lawrow?"


def names(settings: Settings, embedder: Embedder, query: str = LAWROW) -> list[str]:
    return [Path(h.path).name for h in Retriever(settings, embedder).search(query, k=5)]


def collections(settings: Settings) -> list[str]:
    from pymilvus import MilvusClient

    client = MilvusClient(milvus_uri(settings))
    try:
        return sorted(c for c in client.list_collections()
                      if c.startswith(settings.milvus_collection))
    finally:
        client.close()


def test_incremental_updates_reuse_the_collection_and_keep_no_vector_files(
    tmp_path: Path, embedder: Embedder, make_settings: Callable[..., Settings],
    copy_samples: Callable[[], Path],
) -> None:
    folder = copy_samples()
    settings = make_settings(tmp_path, store="milvus")
    build_index(settings, [folder], embedder=embedder)
    first = current_folder(settings.index_dir)
    assert first is not None and not (first / "dense.faiss").exists()
    collection = (search_config(first) or {})["collection"]
    store = open_index(settings.index_dir, settings)
    assert isinstance(store.search, MilvusSearch)
    assert store.search.count() == store.counts()[1]

    (folder / "z_stockholm.txt").write_text(
        "Stockholmer Treffen\n\nDer schwedische Außenminister empfing die Delegationen im "
        "Stockholmer Rathaus zu einem Abendessen mit Hering.", encoding="utf-8")
    report = build_index(settings, [folder], embedder=embedder)
    assert report.published and report.articles_added == 1
    second = current_folder(settings.index_dir)
    assert second is not None and (search_config(second) or {})["collection"] == collection
    # Found at once. Not asserted first: Milvus Lite keeps BM25 statistics per sealed segment,
    # so the new article's one-document segment scores low lexically (README, "Beyond one
    # machine"); its vector is the best match.
    assert "z_stockholm.txt" in names(settings, embedder, "Hering im Rathaus")
    store = open_index(settings.index_dir, settings)
    vector = embedder.encode_query("Hering im Rathaus").reshape(1, -1)
    best = store.search.dense(vector, 1, None)[0][0]
    assert store.chunk_rows([best])[best].path.endswith("z_stockholm.txt")

    (folder / "z_stockholm.txt").unlink()
    build_index(settings, [folder], embedder=embedder)
    assert "z_stockholm.txt" not in names(settings, embedder, "Hering im Rathaus")
    store = open_index(settings.index_dir, settings)
    assert store.search.count() == store.counts()[1]


def test_switching_a_local_index_to_milvus_copies_its_vectors(
    tmp_path: Path, embedder: Embedder, make_settings: Callable[..., Settings],
    copy_samples: Callable[[], Path],
) -> None:
    folder = copy_samples()
    local = make_settings(tmp_path)
    build_index(local, [folder], embedder=embedder)
    before = names(local, embedder)
    assert isinstance(open_index(local.index_dir, local).search, LocalSearch)

    moved = local.model_copy(update={"store": "milvus"})
    report = build_index(moved, [folder], embedder=embedder)
    assert report.moved and "Milvus" in report.moved
    assert report.chunks_added == 0  # nothing embedded again
    assert report.rebuild_reason is None
    assert names(moved, embedder) == before
    assert "Search moved" in "\n".join(report.lines())

    back = build_index(local, [folder], embedder=embedder)  # Milvus -> files: a rebuild, said so
    assert back.rebuild_reason is not None and "Milvus" in back.rebuild_reason
    assert names(local, embedder) == before


def test_an_aborted_first_build_leaves_no_collection_and_rebuilds_leave_only_theirs(
    tmp_path: Path, embedder: Embedder, make_settings: Callable[..., Settings],
    copy_samples: Callable[[], Path],
) -> None:
    from qa.indexing import _search_writer

    settings = make_settings(tmp_path, store="milvus")
    settings.index_dir.mkdir(parents=True)
    writer = GenerationWriter(settings.index_dir, None, embedder.dimension,
                              search=_search_writer(settings))
    writer.add_article(Article("x", "/x.txt", "Titel", "Satz eins.", content_hash="x"))
    writer.add_chunks([0], [Chunk("x", 0, 0, 10, "Satz eins.")],
                      embedder.encode_passages(["Satz eins."]))
    assert len(collections(settings)) == 1
    writer.abort()
    assert collections(settings) == []

    folder = copy_samples()
    build_index(settings, [folder], embedder=embedder)
    before = names(settings, embedder)
    build_index(settings, [folder], embedder=embedder, rebuild=True)
    build_index(settings, [folder], embedder=embedder, rebuild=True)
    live = current_folder(settings.index_dir)
    assert live is not None
    # a full build starts a collection of its own; like the generation folders before it,
    # the earlier ones are gone (an incremental build keeps its base's, see above)
    assert collections(settings) == [(search_config(live) or {})["collection"]]
    assert names(settings, embedder) == before
