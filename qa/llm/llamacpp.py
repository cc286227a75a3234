"""Generation in-process with llama-cpp-python: no server, works offline on a GGUF file.

The model is loaded once and reused across questions (loading costs seconds and memory);
a lock serialises generation because one llama.cpp context must not run two prompts at once.
The chat template comes from the GGUF's own metadata (`tokenizer.chat_template`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.llm.base import BackendError, Message
from qa.llm.packaged import PACKAGED_PREFIX, resolve_gguf

if TYPE_CHECKING:
    from qa.settings import Settings


def import_llama_cpp() -> Any:
    """The `llama_cpp` module, or a BackendError saying how to install it.

    llama.cpp's OpenMP threads spin-wait by default. On a 2-core machine with anything else
    running, 2 spinning threads decoded Qwen 0.5B at 1-5 tok/s instead of 15-21 (measured),
    so unless the user chose otherwise they sleep instead (read once, when llama_cpp loads).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError as exc:
        raise BackendError(
            "The embedded model needs llama-cpp-python: `pip install llama-cpp-python` "
            f"(it compiles llama.cpp, which takes several minutes). Import failed: {exc}"
        ) from exc
    return llama_cpp


def display_name(spec: str, path: Path) -> str:
    """`qwen2.5-coder-1.5b-instruct-q4_k_m` for a packaged spec, else the file's stem."""
    return spec[len(PACKAGED_PREFIX) :] if spec.startswith(PACKAGED_PREFIX) else path.stem


class LlamaCppLLM:
    """An `LLM` running a GGUF model in this process."""

    name = "llamacpp"

    def __init__(
        self, model_path: Path, n_ctx: int = 4096, n_threads: int = 1, model: str | None = None,
        n_threads_batch: int | None = None,
    ) -> None:
        llama_cpp = import_llama_cpp()
        self.path = Path(model_path)
        self.model = model or self.path.stem
        try:
            self._llama = llama_cpp.Llama(
                model_path=str(self.path), n_ctx=n_ctx, n_threads=n_threads,
                n_threads_batch=n_threads_batch or os.cpu_count() or 1, verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise BackendError(
                f"llama.cpp could not load {self.path}: {exc}. Is it a complete GGUF file "
                f"for an architecture this llama-cpp-python supports?"
            ) from exc
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, cache_dir: Path | None = None) -> LlamaCppLLM:
        path = resolve_gguf(settings.gguf, cache_dir)
        return cls(
            path,
            n_ctx=settings.llm_context,
            n_threads=settings.llm_threads,
            n_threads_batch=settings.llm_batch_threads,
            model=display_name(settings.gguf, path),
        )

    def context_size(self) -> int:
        return int(self._llama.n_ctx())

    def count_tokens(self, text: str) -> int:
        """Exact count in the model's own tokenizer (no BOS, special tokens as text)."""
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def warm(self, system: str) -> None:
        """Read `system` into the KV cache now: llama.cpp reuses a prompt's longest cached
        prefix, so later questions with this system prompt only read their own part."""
        for _ in self.stream_chat([Message("system", system), Message("user", ".")], 1):
            pass

    def stream_chat(
        self, messages: list[Message], max_tokens: int, temperature: float = 0.0
    ) -> Iterator[str]:
        """Yield content deltas; the lock is held until the stream ends or is closed."""
        payload = [{"role": m.role, "content": m.content} for m in messages]
        with self._lock:
            try:
                chunks = self._llama.create_chat_completion(
                    messages=payload, max_tokens=max_tokens, temperature=temperature, stream=True
                )
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            except ValueError as exc:  # llama-cpp-python's "Requested tokens exceed context"
                raise BackendError(
                    f"The prompt does not fit the embedded model's context of "
                    f"{self.context_size()} tokens ({exc}). Use fewer passages "
                    f"(QA_CONTEXT_PASSAGES) or a larger QA_LLM_CONTEXT."
                ) from exc
