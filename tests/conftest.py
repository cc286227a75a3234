"""Shared fixtures.

- `settings`: Settings whose index lives in the test's tmp_path (never the repo's index/).
- `make_settings`: the same for any folder, with overrides: `make_settings(tmp, chunk_tokens=100)`.
- `embedder`: one real embedding model per test session (loading it takes seconds).
- `use_shared_embedder`: makes code that builds its own `Embedder` (the CLI) use that one.
- `copy_samples`: copies data/articles (the five sample scrapes) into a tmp folder.
- `sample_index`: the five samples indexed once per session; read-only for tests.
- `sample_milvus_index`: the same in Milvus Lite (`QA_STORE=milvus`; skipped without the extra).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Models ship as pip packages; a test must never reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from qa.embedding import Embedder
from qa.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "data" / "articles"


def settings_under(tmp: Path, **overrides: object) -> Settings:
    """Settings with the index (and default articles folder) under `tmp`; no .env file read."""
    values: dict[str, Any] = {
        "index_dir": tmp / "index",
        "articles_dir": tmp / "articles",
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_under(tmp_path)


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    return settings_under


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real default embedding model, loaded once and shared by every test."""
    shared = Embedder(Settings(_env_file=None))
    assert shared.dimension > 0  # loads the model now, not inside the first test's timing
    return shared


@pytest.fixture
def use_shared_embedder(monkeypatch: pytest.MonkeyPatch, embedder: Embedder) -> Embedder:
    """Code paths that construct `Embedder(settings)` themselves get the session's model."""
    import qa.indexing
    import qa.retrieval

    monkeypatch.setattr(qa.indexing, "Embedder", lambda settings: embedder)
    monkeypatch.setattr(qa.retrieval, "Embedder", lambda settings: embedder)
    return embedder


def copy_sample_articles(dest: Path) -> Path:
    """Copy data/articles to `dest` (created) and return it."""
    shutil.copytree(SAMPLE_DIR, dest)
    return dest


@pytest.fixture
def copy_samples(tmp_path: Path) -> Callable[[], Path]:
    """Call it to get a fresh copy of the sample articles under tmp_path."""
    counter = iter(range(1_000))

    def copy() -> Path:
        return copy_sample_articles(tmp_path / f"samples-{next(counter)}")

    return copy


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """Settings of an index built from the five sample articles (do not modify it)."""
    from qa.indexing import build_index

    root = tmp_path_factory.mktemp("sample-index")
    articles = copy_sample_articles(root / "articles")
    settings = settings_under(root, articles_dir=articles)
    report = build_index(settings, [articles], embedder=embedder)
    assert report.published and report.articles_total == 5
    return settings


@pytest.fixture(scope="session")
def sample_milvus_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """Settings of the five sample articles indexed into Milvus Lite (do not modify it)."""
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from qa.indexing import build_index

    root = tmp_path_factory.mktemp("sample-milvus")
    articles = copy_sample_articles(root / "articles")
    settings = settings_under(root, articles_dir=articles, store="milvus")
    report = build_index(settings, [articles], embedder=embedder)
    assert report.published and report.articles_total == 5
    return settings
