"""The one small interface every generation backend implements.

Backends stream text pieces so the CLI and chat can show tokens as they arrive. Errors a
user can act on are raised as `BackendError` with a message that says what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


class BackendError(RuntimeError):
    """A failure the user can fix (server down, model missing); the message says how."""


class LLM(Protocol):
    """A chat model that streams its reply."""

    name: str  # backend name: "ollama", "llamacpp"
    model: str  # model shown to the user, e.g. "qwen2.5:7b"

    def context_size(self) -> int:
        """Tokens the model accepts (prompt + answer)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` costs in this model's own tokenizer (may be an estimate for Ollama)."""
        ...

    def warm(self, system: str) -> None:
        """Prepare for prompts that start with `system` (e.g. cache it); may do nothing."""
        ...

    def stream_chat(
        self, messages: list[Message], max_tokens: int, temperature: float = 0.0
    ) -> Iterator[str]:
        """Yield the reply in pieces; raise BackendError on actionable failures."""
        ...
