"""Pick the answering backend: Ollama, the embedded llama.cpp model, or none (extractive).

`auto` prefers a running Ollama (bigger models, its own process) and falls back to the
packaged GGUF, then to quote-only answers; the returned note tells the user which and why.
Embedded models are cached per (file, context, threads) so the chat loads each only once.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from qa.llm.base import LLM, BackendError
from qa.llm.llamacpp import LlamaCppLLM, display_name
from qa.llm.ollama import OllamaLLM
from qa.llm.packaged import resolve_gguf

if TYPE_CHECKING:
    from qa.settings import Settings

EXTRACTIVE_NOTE = "extractive mode: answers quote the retrieved passages, no language model"

_cache: dict[tuple[str, int, int, int | None], LlamaCppLLM] = {}
_ollama_cache: dict[tuple[str, str, float], OllamaLLM] = {}
_cache_lock = threading.Lock()


def ollama_llm(settings: Settings) -> OllamaLLM:
    """One client per (host, model, timeout), so num_ctx and the context size persist."""
    key = (settings.ollama_host, settings.ollama_model, settings.ollama_timeout_s)
    with _cache_lock:
        if key not in _ollama_cache:
            _ollama_cache[key] = OllamaLLM.from_settings(settings)
        return _ollama_cache[key]


def load_llamacpp(settings: Settings) -> LlamaCppLLM:
    """The embedded model for `settings`, loaded once per (path, context, threads)."""
    path = resolve_gguf(settings.gguf)
    key = (str(path.resolve()), settings.llm_context, settings.llm_threads,
           settings.llm_batch_threads)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = LlamaCppLLM(
                path,
                n_ctx=settings.llm_context,
                n_threads=settings.llm_threads,
                n_threads_batch=settings.llm_batch_threads,
                model=display_name(settings.gguf, path),
            )
        return _cache[key]


def embedded_ready(settings: Settings) -> bool:
    """Whether the embedded backend can run here (llama-cpp-python and the GGUF present)."""
    try:
        import llama_cpp  # noqa: F401

        resolve_gguf(settings.gguf)
    except (ImportError, BackendError):
        return False
    return True


def clear_cache() -> None:
    """Drop cached backends (a model's memory is freed once nothing else holds it)."""
    with _cache_lock:
        _cache.clear()
        _ollama_cache.clear()


def _embedded_note(llm: LlamaCppLLM) -> str:
    return f"embedded {llm.model} via llama.cpp ({Path(llm.path).name}, {llm.context_size()} ctx)"


def select_llm(settings: Settings, choice: str | None = None) -> tuple[LLM | None, str]:
    """(backend, note); backend None means extractive answers.

    An explicit `ollama` or `llamacpp` choice raises BackendError when it cannot be used
    (the user asked for it); `auto` never raises and explains its fallbacks in the note.
    """
    choice = choice or settings.llm
    if choice == "extractive":
        return None, EXTRACTIVE_NOTE
    if choice == "ollama":
        ollama = ollama_llm(settings)
        ok, why = ollama.available()
        if not ok:
            raise BackendError(why)
        return ollama, f"Ollama {ollama.model} at {ollama.host}"
    if choice == "llamacpp":
        embedded = load_llamacpp(settings)
        return embedded, _embedded_note(embedded)
    if choice != "auto":
        raise BackendError(
            f"Unknown LLM choice '{choice}': use auto, ollama, llamacpp or extractive."
        )

    ollama = ollama_llm(settings)
    ok, why = ollama.available()
    if ok:
        return ollama, f"Ollama {ollama.model} at {ollama.host}"
    try:
        embedded = load_llamacpp(settings)
    except BackendError as exc:
        return None, f"{why} Embedded model unavailable: {exc} Using {EXTRACTIVE_NOTE}."
    return embedded, f"{why} Using {_embedded_note(embedded)}."
