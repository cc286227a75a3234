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


@dataclass(frozen=True)
class Filters:
    """Optional restrictions; dates are ISO prefixes ("2021-12" or "2021-12-08").

    A date range cannot place an undated article: it is left out unless `include_undated`,
    and `Retriever.scope` counts how many were, so the reply can say so.
    """

    source: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    include_undated: bool = False

    def active(self) -> bool:
        return any((self.source, self.date_from, self.date_to))


@dataclass(frozen=True)
class SearchScope:
    """What a filtered search looked at, so a reply can say what the filter left out.

    A date filter cannot place an undated article, so it leaves it out unless asked to keep
    it; saying how many were left out is what keeps a filtered "not found" honest.
    """

    total_articles: int
    searched_articles: int
    undated_left_out: int  # undated articles (matching the other filters) not searched
    source: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    include_undated: bool = False

    def period(self) -> str:
        """"2021-12-01 to 2021-12-31", "from 2021-12", "up to 2022-01-10" or ""."""
        if self.date_from and self.date_to:
            if self.date_from == self.date_to:
                return f"on {self.date_from}"
            return f"{self.date_from} to {self.date_to}"
        if self.date_from:
            return f"from {self.date_from}"
        return f"up to {self.date_to}" if self.date_to else ""

    def describe(self) -> str:
        """One line for the reply: what was searched and what the filter left out."""
        what = " and ".join(x for x in (
            f"dated {self.period()}" if self.period() else "",
            f"from {self.source}" if self.source else "",
        ) if x)
        n = self.searched_articles
        line = f"Searched {n} of {self.total_articles} article{'s' * (self.total_articles != 1)}"
        line += f" ({what})" if what else ""
        if self.include_undated and (self.date_from or self.date_to):
            line += ", undated articles included"
        if self.undated_left_out:
            u = self.undated_left_out
            line += (f"; {u} undated article{'s' * (u != 1)} left out "
                     "(their date is unknown)")
        return line + "."

    def empty_message(self) -> str:
        """The reply when the filter leaves nothing to search (not "not in the articles")."""
        what = " and ".join(x for x in (
            f"dated {self.period()}" if self.period() else "",
            f"from {self.source}" if self.source else "",
        ) if x)
        line = f"No article matches the filter: none of the {self.total_articles} indexed "
        line += f"articles is {what}." if what else "articles matches."
        if self.undated_left_out:
            u = self.undated_left_out
            line += (f" {u} undated article{'s' * (u != 1)} {'were' if u != 1 else 'was'} "
                     "left out because their date is unknown.")
        return line


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
    # unverified because it names these (as written) and no passage that backs the rest does
    unstated_names: tuple[str, ...] = ()
    # unverified because too few of the words it adds have a counterpart there (English only)
    unstated_words: tuple[str, ...] = ()


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
    #: what a filtered search looked at (None when no filter was set)
    scope: SearchScope | None = None
    #: the period read from the question and how it was used (None when none was read)
    period_note: str | None = None
    #: what the model wrote, before the claim check (empty without a model): kept so a change
    #: to the check can be measured on recorded answers (scripts/replay_answers.py)
    model_text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
