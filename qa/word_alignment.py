"""How much of a question a sentence holds, word by word, by meaning and across languages.

A sentence vector blurs whether every part of the question is in the sentence, and word overlap
cannot see that "demand" is "forderte". A multilingual encoder's token vectors at a middle layer
align words across languages (as SimAlign does with mBERT and XLM-R): each of the question's
content words is matched to its closest word in the sentence, and the mean of those cosines
says how much of the question the sentence holds. A passage on the question's topic shares its
topic words; the sentence that answers holds the rest too. The answer gate uses it
(`qa.gate`); the layer is part of the fitted gate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


@dataclass(frozen=True)
class WordVectors:
    """A text's content words and one unit vector per word (its pieces' mean)."""

    words: tuple[str, ...]
    vectors: np.ndarray  # (len(words), dim), float32

    def __len__(self) -> int:
        return len(self.words)


def encode_with_words(
    model: SentenceTransformer, texts: Sequence[str], prefix: str, layer: int,
    keep: Callable[[str], bool], batch_size: int = 16,
) -> tuple[np.ndarray, list[WordVectors]]:
    """Sentence vectors (as `model.encode` gives them for `prefix + text`, normalised) and the
    word vectors of `layer` for each text, from one forward pass. `keep` says which words
    count (content words); the prefix's words ("passage:") never do."""
    import torch

    transformer, rest = model[0], list(model)[1:]
    tokenizer = model.tokenizer
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding per batch
    sentence: list[np.ndarray] = [np.zeros(0)] * len(texts)
    words: list[WordVectors] = [WordVectors((), np.zeros((0, 0)))] * len(texts)
    for start in range(0, len(texts), batch_size):
        idx = order[start:start + batch_size]
        batch = [prefix + texts[i] for i in idx]
        enc = tokenizer(batch, padding=True, truncation=True, max_length=model.max_seq_length,
                        return_offsets_mapping=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping").tolist()
        with torch.inference_mode():
            encoder: Callable[..., Any] = transformer.auto_model  # type: ignore[assignment]
            out = encoder(**enc, output_hidden_states=True)
            features = {"token_embeddings": out.hidden_states[-1],
                        "attention_mask": enc["attention_mask"]}
            for module in rest:
                features = module(features)
        vectors = features["sentence_embedding"].float().numpy()
        hidden = out.hidden_states[layer].float().numpy()
        for row, i in enumerate(idx):
            sentence[i] = vectors[row]
            words[i] = _words(batch[row], len(prefix), enc.word_ids(row), offsets[row],
                              hidden[row], keep)
    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension() or 0), "float32"), []
    return np.stack(sentence).astype("float32"), words


def _words(text: str, prefix_end: int, word_ids: list[int | None], offsets: list[list[int]],
           hidden: np.ndarray, keep: Callable[[str], bool]) -> WordVectors:
    pieces: dict[int, list[int]] = {}
    for position, word_id in enumerate(word_ids):
        if word_id is not None:
            pieces.setdefault(word_id, []).append(position)
    names: list[str] = []
    rows: list[np.ndarray] = []
    for positions in pieces.values():
        start, end = offsets[positions[0]][0], offsets[positions[-1]][1]
        word = text[start:end].strip()  # a piece's offsets include the space before it
        if end <= prefix_end or not keep(word):
            continue
        vector = hidden[positions].mean(axis=0)
        names.append(word)
        rows.append(vector / (np.linalg.norm(vector) or 1.0))
    dim = hidden.shape[-1]
    return WordVectors(tuple(names), np.array(rows, dtype="float32").reshape(len(rows), dim))


def matched(question: WordVectors, sentence: WordVectors) -> np.ndarray:
    """For each of the question's words, its best cosine with a word of the sentence."""
    if not len(question) or not len(sentence):
        return np.zeros(len(question), dtype="float32")
    return (question.vectors @ sentence.vectors.T).max(axis=1)


def best_recall(question: WordVectors, passages: Sequence[Sequence[WordVectors]]) -> float:
    """The share of the question one sentence of the passages holds, for the best sentence."""
    if not len(question):
        return 0.0
    return max((float(matched(question, s).mean()) for p in passages for s in p), default=0.0)


def best_pair_recall(question: WordVectors, passages: Sequence[Sequence[WordVectors]]) -> float:
    """The same for a sentence with its next neighbour in its passage: an answer is often
    spread over two ("Lawrow traf Blinken in Stockholm. Er forderte …")."""
    best = 0.0
    for sentences in passages:
        rows = [matched(question, s) for s in sentences]
        pairs = [np.maximum(a, b) for a, b in pairwise(rows)] or rows
        best = max([best, *(float(r.mean()) for r in pairs if len(r))])
    return best
