"""Check the model's citations instead of trusting them.

Small local models cite the wrong passage, shift numbers or cite nothing. After generation
every answer sentence is scored against every passage sentence it could have used (one whose
neighbourhood lacks a number the answer sentence states scores nothing): a citation stays
when its passage supports the sentence, moves to the passage that does (marked repaired),
and a sentence nothing supports is marked unverified. Each kept citation resolves to the
exact supporting sentence's character span in the article, for highlighting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from qa.chunking import split_sentences
from qa.claim_check import (
    CLAIM_CHECK_FILE,
    FittedCheck,
    check_matrix,
    fitted_check,
    makes_claim,
    resolve_pronoun,
)
from qa.language import language
from qa.name_check import (
    NAME_CHECK_FILE,
    NameCheck,
    load_name_check,
    unstated_names,
    unstated_words,
)
from qa.relative_days import resolve_relative_days
from qa.schema import AnswerSentence, Citation, Hit
from qa.support import (
    SupportScorer,
    numbers,
    passage_sentences,
    same_language,
    stated_numbers,
)
from qa.word_alignment import WordVectors

# [1]  [1, 2]  [1][2]  [1-3]  [Quelle 1]  [Passage 2]  【1】  [^1]  (1) is too ambiguous to read.
_MARKER = re.compile(
    r"[\[【]\s*(?:\^|Quelle|Quellen|Passage|Passagen|Source|Sources|Artikel|Nr\.?)?\s*"
    r"(\d+(?:\s*(?:[,;–-]|und|and)\s*\d+)*)\s*[\]】]",
    re.I,
)
_TRAILING_MARKERS = re.compile(rf"([.!?])((?:\s*(?:{_MARKER.pattern}))+)", re.I)


@dataclass(frozen=True)
class ParsedSentence:
    text: str  # without markers
    cited: list[int]  # 1-based numbers as written, in range


def parse_markers(text: str, n_passages: int) -> tuple[str, list[int]]:
    """Remove citation markers from `text`; return it and the in-range numbers cited."""
    numbers: list[int] = []
    for match in _MARKER.finditer(text):
        body = match.group(1)
        for part in re.split(r"\s*(?:[,;]|und|and)\s*", body, flags=re.I):
            bounds = re.split(r"\s*[–-]\s*", part)
            if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
                lo, hi = int(bounds[0]), int(bounds[1])
                values = list(range(lo, hi + 1)) if 0 < hi - lo < 10 else [lo, hi]
            else:
                values = [int(b) for b in bounds if b.isdigit()]
            numbers += [v for v in values if 1 <= v <= n_passages and v not in numbers]
    stripped = _MARKER.sub("", text)
    stripped = re.sub(r"\s+([.,;:!?])", r"\1", stripped)
    return re.sub(r"[ \t]{2,}", " ", stripped).strip(), numbers


def split_answer(text: str, n_passages: int) -> list[ParsedSentence]:
    """Answer sentences with the citations written after (or inside) each one.

    Markers after a sentence's final period ("... Stunden. [1] Danach ...") belong to that
    sentence, so they are moved before the period before splitting.
    """
    text = _TRAILING_MARKERS.sub(lambda m: f"{m.group(2)}{m.group(1)}", text)
    out: list[ParsedSentence] = []
    for start, end in split_sentences(text):
        clean, cited = parse_markers(text[start:end], n_passages)
        if not clean or re.fullmatch(r"[\W\d]+", clean):
            if out and cited:  # a lone marker: it belongs to the sentence before
                merged = out[-1].cited + [c for c in cited if c not in out[-1].cited]
                out[-1] = ParsedSentence(out[-1].text, merged)
            continue
        out.append(ParsedSentence(clean, cited))
    return out


class Unstated(NamedTuple):
    """What an English claim adds that a passage window does not give (`qa.name_check`)."""

    names: list[str]
    words: list[str]


class CitationVerifier:
    """Scores answer sentences against the passages and decides each citation's fate.

    With a fitted claim check for the embedding model (`qa/claim_check.py`) a sentence's score
    is P(the passage sentence states it) and `check.threshold` decides; otherwise, and across
    languages, the support score and `threshold` do.
    """

    def __init__(self, scorer: SupportScorer, threshold: float,
                 check_file: Path = CLAIM_CHECK_FILE,
                 name_check_file: Path = NAME_CHECK_FILE) -> None:
        self.scorer = scorer
        self.threshold = threshold
        self.check: FittedCheck | None = fitted_check(
            scorer.embedder.name if scorer.embedder is not None else None, check_file)
        # word vectors come from the embedding model; without one the rule cannot run
        self.names: NameCheck | None = (
            load_name_check(name_check_file, scorer.embedder.name)
            if scorer.embedder is not None else None)

    def verify(
        self, sentences: list[ParsedSentence], hits: list[Hit], lang: str | None = None,
        question: str = "", scopes: Sequence[str] | None = None,
    ) -> list[AnswerSentence]:
        """`lang`: the answer's language (that of the question), when known; `question`: what
        the answer replies to (a short reply means nothing without it); `scopes[p]`: what the
        article around passage p states (the whole retrieved chunk behind a focused window),
        where a question word the answer repeats may stand (default: the passage itself)."""
        spans = [passage_sentences(h.text) for h in hits]
        flat = [(p, s) for p, sents in enumerate(spans) for s in sents]
        claims, texts = [s.text for s in sentences], [s.text for _, s in flat]
        support = self.scorer.matrix(claims, texts, claim_lang=lang)
        # each sentence with its neighbours and its article's headline
        nearby = [[hits[p].title, *(x.text for x in spans[p][max(0, k - 1): k + 2])]
                  for p, sents in enumerate(spans) for k in range(len(sents))]
        windows = [_with_days(" ".join(near), hits[p].date)
                   for near, (p, _) in zip(nearby, flat, strict=True)]
        # numbers must appear next to the supporting sentence: "Dies geschah sechs Wochen vor
        # der Heirat" backs a year given one sentence earlier, not one given elsewhere
        window_numbers = [stated_numbers(w) for w in windows]
        limits = np.full(support.shape, self.threshold, dtype="float32")
        same = same_language(claims, texts, lang)
        if self.check is not None and claims and texts:
            asked = (self.scorer.matrix([question], texts, questions=True, claim_lang=lang)[0]
                     if question else np.zeros(len(texts), dtype="float32"))
            # "Er forderte X." after "Rjabkow sagte Y." must be stated about Rjabkow
            resolved = [resolve_pronoun(c, claims[i - 1] if i else None)
                        for i, c in enumerate(claims)]
            titles = [hits[p].title for p, _ in flat]
            # a passage speaks for its article: "laut AFP" is stated by an AFP article
            around = list(scopes) if scopes is not None else [h.text for h in hits]
            passages = [f"{hits[p].source or ''} {around[p]}" for p, _ in flat]
            support = check_matrix(self.check, resolved, question, support, texts, windows,
                                   titles, same, asked, self.threshold, passages)
            limits[same] = self.check.threshold
        unstated = self._unstated(claims, question, (support >= limits) & ~same, windows,
                                  [[t for t in near if t] for near in nearby], lang)
        out: list[AnswerSentence] = []
        for i, sentence in enumerate(sentences):
            # best supporting sentence per passage, by its margin over the pass mark
            best: dict[int, tuple[float, int]] = {}
            stated = numbers(sentence.text)
            for j, (p, _) in enumerate(flat):
                score = float(support[i, j] - limits[i, j])
                if not stated <= window_numbers[j] or (i, j) in unstated:
                    score = -1.0
                if p not in best or score > best[p][0]:
                    best[p] = (score, j)
            if not makes_claim(sentence.text):
                # connective text ("Laut den Artikeln:") makes no claim to check
                out.append(AnswerSentence(sentence.text, [], verified=False, support=0.0))
                continue
            cited_ok = [n for n in sentence.cited if best.get(n - 1, (-1.0, 0))[0] >= 0]
            repaired = False
            if not cited_ok:
                ranked = sorted(best.items(), key=lambda kv: -kv[1][0])
                if ranked and ranked[0][1][0] >= 0:
                    cited_ok = [ranked[0][0] + 1]
                    repaired = bool(sentence.cited)  # moved from a wrong citation
            score_of = {p: max(0.0, float(support[i, j])) if m > -1.0 else 0.0
                        for p, (m, j) in best.items()}
            citations = [self._citation(n, hits[n - 1], flat[best[n - 1][1]][1], score_of[n - 1])
                         for n in cited_ok]
            # what a reader is told: what the best-backed sentence lacked
            blocked = [(float(support[i, j]), j) for j in range(len(flat)) if (i, j) in unstated]
            gap = unstated[i, max(blocked)[1]] if blocked and not citations else Unstated([], [])
            out.append(AnswerSentence(
                sentence.text, citations, verified=bool(citations), repaired=repaired,
                support=max((c.support for c in citations),
                            default=max(score_of.values(), default=0.0)),
                unstated_names=tuple(gap.names), unstated_words=tuple(gap.words),
            ))
        return out

    def _unstated(
        self, claims: list[str], question: str, candidates: np.ndarray,
        windows: list[str], window_sentences: list[list[str]], lang: str | None,
    ) -> dict[tuple[int, int], Unstated]:
        """{(i, j): what English claim i adds to the question that sentence j's window does
        not give}: names, and words beyond the fitted share (`qa.name_check`). Checked where
        `candidates[i, j]` (the support score passes, across languages), and only for English,
        the language it was fitted on and whose capitals mark names (German capitalises every
        noun)."""
        out: dict[tuple[int, int], Unstated] = {}
        if self.names is None or not claims or not candidates.size:
            return out
        check = self.names
        english = np.array([(lang or language(c)) == "en" for c in claims])[:, None]
        cross = candidates & english

        def words(batch: Sequence[str]) -> list[WordVectors]:
            return self.scorer.passage_words(batch, check.layer)

        for i, j in zip(*np.nonzero(cross), strict=True):
            args = (claims[i], question, windows[j], window_sentences[j], words, check)
            gap = Unstated(unstated_names(*args), unstated_words(*args))
            if gap.names or gap.words:
                out[int(i), int(j)] = gap
        return out

    @staticmethod
    def _citation(number: int, hit: Hit, span: object, score: float) -> Citation:
        from qa.support import SentenceSpan

        assert isinstance(span, SentenceSpan)
        return Citation(
            number=number, article_id=hit.article_id, chunk_id=hit.chunk_id,
            start=hit.start + span.start, end=hit.start + span.end, quote=span.text,
            support=round(score, 3),
        )


def _with_days(window: str, published: str | None) -> str:
    """A passage window plus the days its relative days name ("am Donnerstag" in an article of
    Friday 3 December 2021 adds "2. Dezember 2021"): the prompt shows the model those days,
    so an answer may state them."""
    days = resolve_relative_days(window, published)
    return window + "".join(f" {d.label(language(window))}" for d in days)


def render(sentences: list[AnswerSentence]) -> str:
    """The answer text with verified citations written after each sentence."""
    parts = []
    for s in sentences:
        markers = "".join(f"[{c.number}]" for c in s.citations)
        text = s.text
        if markers and text[-1:] in ".!?":
            text = f"{text[:-1]} {markers}{text[-1]}"
        elif markers:
            text = f"{text} {markers}"
        parts.append(text)
    return " ".join(parts)
