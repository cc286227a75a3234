"""The shared vocabulary: plain dataclasses every module passes around.

The CLI, the chat and the evaluation all consume the same `Answer`, so what a user sees in
one place is exactly what is measured in another.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Article:
    """A cleaned article: `text` is what chunk offsets index into."""

    id: str  # stable: derived from the path relative to the indexed folder (+ line for jsonl)
    path: str
    title: str
    text: str
    date: str | None = None  # ISO 8601 (YYYY-MM-DD, or YYYY-MM when only the month is known)
    source: str | None = None  # agency or outlet: AFP, dpa, Reuters, ...
    url: str | None = None
    content_hash: str = ""
    date_origin: str | None = None  # where the date was read: metadata, stamp, byline, dateline


@dataclass(frozen=True)
class Chunk:
    """A span of an article; `article.text[start:end] == text` always holds."""

    article_id: str
    ordinal: int
    start: int
    end: int
    text: str


@dataclass
class Hit:
    """A retrieved chunk with its article metadata and how it ranked."""

    chunk_id: int
    article_id: str
    ordinal: int
    start: int
    end: int
    text: str
    title: str
    date: str | None
    source: str | None
    path: str
    score: float
    dense_rank: int | None = None
    bm25_rank: int | None = None
    bm25_score: float | None = None
    dense_score: float | None = None
    date_origin: str | None = None  # metadata, stamp, byline or dateline; None when undated

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Citation:
    """A resolved citation: which passage, and the exact supporting span in the article."""

    number: int  # the [n] shown to the user (1-based index into Answer.sources)
    article_id: str
    chunk_id: int
    start: int  # character span of the supporting sentence in the article text
    end: int
    quote: str
    support: float  # verifier score of the answer sentence against this passage


@dataclass
class AnswerSentence:
    """One sentence of the answer and what backs it."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    verified: bool = False
    repaired: bool = False  # the model cited another passage; the verifier moved it
    support: float = 0.0


@dataclass
class Answer:
    """Everything a question produced; rendered by the CLI and UI, scored by evaluation."""

    question: str
    text: str
    sentences: list[AnswerSentence]
    sources: list[Hit]
    refused: bool
    backend: str
    model: str
    search_query: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # retrieval_s, first_token_s, total_s
    notice: str | None = None  # e.g. why the answer fell back to quoting
    #: the model's sentences no passage states: not shown as the answer, kept for the record
    left_out: list[AnswerSentence] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
