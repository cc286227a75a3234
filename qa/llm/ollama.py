"""Generation through a local Ollama server (`ollama serve`), via the `ollama` client.

Ollama's default context window (2048/4096 tokens) silently drops the start of a longer
prompt, which for RAG means losing the passages. So every request sets `options.num_ctx`
from an estimate of the prompt plus the answer budget. Transport failures are mapped to
BackendError messages that say what to run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import httpx
import ollama

from qa.llm.base import BackendError, Message

if TYPE_CHECKING:
    from qa.settings import Settings

#: Used when /api/show reports no `<arch>.context_length` (older servers, odd models).
FALLBACK_CONTEXT = 4096
#: Smallest num_ctx we ask for: Ollama's own historical default.
MIN_NUM_CTX = 2048
#: Chat-template tokens per message (role markers, separators), generously rounded up.
MESSAGE_OVERHEAD_TOKENS = 8
#: Characters per token assumed by the estimate; German BPE averages ~3.5-4.5, so 3 over-counts.
CHARS_PER_TOKEN = 3.0
#: Reachability checks must not hang for the full generation timeout.
PROBE_TIMEOUT_S = 5.0


class OllamaLLM:
    """An `LLM` backed by an Ollama server; cheap to construct, talks to the server lazily."""

    name = "ollama"

    def __init__(
        self,
        host: str,
        model: str,
        timeout_s: float = 120.0,
        probe_timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        self.host = host or "http://127.0.0.1:11434"
        self.model = model
        self.timeout_s = timeout_s
        self._client = ollama.Client(host=self.host, timeout=timeout_s)
        self._probe = ollama.Client(host=self.host, timeout=min(timeout_s, probe_timeout_s))
        self._context: int | None = None
        self._num_ctx = 0  # largest num_ctx sent so far (see num_ctx_for)

    @classmethod
    def from_settings(cls, settings: Settings) -> OllamaLLM:
        return cls(settings.ollama_host, settings.ollama_model, settings.ollama_timeout_s)

    # --- errors ------------------------------------------------------------------------
    def _unreachable(self) -> BackendError:
        return BackendError(
            f"Ollama is not reachable at {self.host}: start it with `ollama serve` "
            f"(or point OLLAMA_HOST / QA_OLLAMA_HOST at the running server)."
        )

    def _not_pulled(self, have: str = "") -> BackendError:
        return BackendError(
            f"Model '{self.model}' is not available on Ollama at {self.host}{have}: "
            f"run `ollama pull {self.model}` (or set QA_OLLAMA_MODEL to a pulled model)."
        )

    def _response_error(self, exc: ollama.ResponseError) -> BackendError:
        if exc.status_code == 404:
            return self._not_pulled()
        status = f" (HTTP {exc.status_code})" if exc.status_code > 0 else ""
        return BackendError(f"Ollama at {self.host} reported an error{status}: {exc.error}")

    # --- server state --------------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        """Whether the server answers and has the model pulled, with a sentence saying so."""
        try:
            listed = self._probe.list()
        except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout):
            return False, str(self._unreachable())
        except httpx.HTTPError as exc:  # accepted the connection, then failed or stalled
            return False, f"Ollama at {self.host} did not answer properly ({exc!r})."
        except ollama.ResponseError as exc:
            return False, str(self._response_error(exc))
        names = sorted(m.model for m in listed.models if m.model)
        if self.model in names or f"{self.model}:latest" in names:
            return True, f"Ollama at {self.host} has {self.model}"
        have = f" (it has: {', '.join(names)})" if names else " (it has no models)"
        return False, str(self._not_pulled(have))

    def context_size(self) -> int:
        """The model's trained context length from /api/show, cached; FALLBACK_CONTEXT if absent."""
        if self._context is None:
            try:
                info = self._probe.show(self.model).modelinfo or {}
            except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise self._unreachable() from exc
            except httpx.HTTPError as exc:
                raise BackendError(f"Ollama at {self.host} did not answer ({exc!r}).") from exc
            except ollama.ResponseError as exc:
                raise self._response_error(exc) from exc
            self._context = _context_length(info) or FALLBACK_CONTEXT
        return self._context

    # --- tokens --------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """An over-estimate (len/3): Ollama has no tokenize endpoint, and too high is safe."""
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def num_ctx_for(self, messages: list[Message], max_tokens: int) -> int:
        """num_ctx covering prompt + answer, in 1024 steps, capped at the model's context.

        It never shrinks below an earlier request's value: Ollama reloads the model whenever
        num_ctx changes, so a window that only grows costs at most a few reloads per session.
        """
        estimate = sum(self.count_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in messages)
        needed = max(MIN_NUM_CTX, math.ceil((estimate + max_tokens) / 1024) * 1024)
        self._num_ctx = min(max(needed, self._num_ctx), self.context_size())
        return self._num_ctx

    # --- generation ----------------------------------------------------------------------
    def warm(self, system: str) -> None:
        """Nothing to do: the Ollama server keeps its own prompt cache between requests."""

    def stream_chat(
        self, messages: list[Message], max_tokens: int, temperature: float = 0.0
    ) -> Iterator[str]:
        """Yield the reply as Ollama streams it; BackendError on any transport failure."""
        options = {
            "num_ctx": self.num_ctx_for(messages, max_tokens),
            "num_predict": max_tokens,
            "temperature": temperature,
        }
        payload = [{"role": m.role, "content": m.content} for m in messages]
        started = finished = False
        # stream=True defers the request to the first next(): a refused connection then
        # surfaces as a raw httpx.ConnectError, not the client's ConnectionError.
        stream = cast(
            Generator[ollama.ChatResponse, None, None],
            self._client.chat(model=self.model, messages=payload, stream=True, options=options),
        )
        try:
            for part in stream:
                piece = part.message.content
                if piece:
                    started = True
                    yield piece
                finished = finished or bool(part.done)
        except ollama.ResponseError as exc:
            raise self._response_error(exc) from exc
        except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise self._unreachable() from exc
        except httpx.TimeoutException as exc:
            raise BackendError(
                f"Ollama at {self.host} sent nothing for {self.timeout_s:.0f} s"
                f"{' mid-answer' if started else ''}; the model may be too slow for this "
                f"machine. Raise QA_OLLAMA_TIMEOUT_S or use a smaller model."
            ) from exc
        except (httpx.HTTPError, json.JSONDecodeError) as exc:
            raise self._stopped(started, exc) from exc
        finally:
            stream.close()  # frees the HTTP connection when the caller stops early
        if not finished:
            raise self._stopped(started, None)

    def _stopped(self, started: bool, exc: Exception | None) -> BackendError:
        where = "mid-answer" if started else "before answering"
        why = f" ({type(exc).__name__}: {exc})" if exc else ""
        return BackendError(
            f"Ollama at {self.host} stopped {where}{why}. Check that `ollama serve` is still "
            f"running (its log shows why, e.g. out of memory), then ask again."
        )


def _context_length(info: Mapping[str, Any]) -> int | None:
    """`<arch>.context_length` from /api/show's model_info (e.g. `qwen2.context_length`)."""
    arch = info.get("general.architecture")
    value = info.get(f"{arch}.context_length") if arch else None
    if value is None:
        value = next((v for k, v in info.items() if k.endswith(".context_length")), None)
    return int(value) if isinstance(value, int | float) and value > 0 else None
