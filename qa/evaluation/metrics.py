"""Scoring functions for the evaluation: answer matching, retrieval hits, refusals.

Pure standard-library code so scoring never depends on the model stack and can be unit
tested in milliseconds. Every aggregate returns a `Metric` carrying its sample count `n`, so a
report can never show a rate without saying how many cases it rests on.

German answer normalisation (`normalize`) works in this order:

1. Unicode NFKC, then `casefold()` (which also turns "ß" into "ss").
2. Numbers: a group of 1-3 digits followed by groups of *exactly three* digits, all joined by
   the same separator (space, no-break space, thin space, "." or ","), is one integer and
   loses its separators: "100 000", "100.000", "100,000" and "100000" are all "100000".
   Any other "," "." or ":" between two digits is a decimal/time point and becomes ".":
   "1,5" and "1.5" both give "1.5" and stay distinct from "15"; "21:30" equals "21.30".
   Consequence: "1,500" is read as 1500, never as 1.5 (German rarely writes three decimals).
   Plain integers lose leading zeros ("07. Dezember" equals "7. Dezember").
3. Diacritics are stripped and the German digraphs folded to the plain vowel: "ä", "ae" and
   "a" all become "a" (same for ö/oe/o and ü/ue/u). So "Präsident", "Praesident" and
   "Prasident" match. Folding "ae"/"oe"/"ue" also hits words like "Israel" or "neue", but it
   is applied to both sides, so it can only merge spellings, never split them.
4. Every other non-alphanumeric character (quotes „“”"'‚‘’«», hyphens, brackets, ...) is a
   token boundary; whitespace is collapsed. Articles and stop words are kept: in German
   they carry case and number ("der"/"den"/"dem") and removing them buys little.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from qa.evaluation.testset import TestCase

__all__ = [
    "Metric",
    "RefusalScores",
    "RetrievedChunk",
    "all_contexts_rank",
    "chunk_hits",
    "contains_answer",
    "exact_match",
    "first_hit_rank",
    "hit_contexts",
    "mean",
    "mrr_at",
    "normalize",
    "normalize_tokens",
    "percentile",
    "recall_at",
    "refusal_scores",
    "text_overlaps",
    "token_f1",
]

# --------------------------------------------------------------------------------------------
# Aggregates carry their count
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """An aggregate value and the number of cases it was computed from.

    `value` is 0.0 when `n == 0`; always read `n` before trusting `value`.
    """

    value: float
    n: int

    def __float__(self) -> float:
        return self.value

    def as_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "n": self.n}


def mean(values: Iterable[float]) -> Metric:
    """Arithmetic mean (bools count as 0/1), with its count."""
    vals = [float(v) for v in values]
    return Metric(sum(vals) / len(vals) if vals else 0.0, len(vals))


def percentile(values: Iterable[float], p: float) -> Metric:
    """The p-th percentile (0-100) with linear interpolation, as numpy's default does.

    Used for latency reports (p50/p95) without pulling in numpy.
    """
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile p must be within [0, 100], got {p}")
    vals = sorted(float(v) for v in values)
    if not vals:
        return Metric(0.0, 0)
    pos = (len(vals) - 1) * p / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(vals) - 1)
    value = vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)
    return Metric(value, len(vals))


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------

_SEP = "[ \u00a0\u202f\u2009.,]"
# 1-3 digits, then one or more groups of exactly three digits with one consistent separator;
# not glued to further digits (or to a digit group before it, e.g. the "01" of "21.01.2022").
_THOUSANDS = re.compile(rf"(?<!\d)(?<!\d[.,:])(\d{{1,3}})({_SEP})(\d{{3}}(?:\2\d{{3}})*)(?![\d])")
_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*|[^\W_]+")
_DIGRAPHS = re.compile(r"ae|oe|ue")


def _fold_thousands(match: re.Match[str]) -> str:
    sep = re.escape(match.group(2))
    return match.group(1) + re.sub(sep, "", match.group(3))


def _strip_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize_tokens(text: str) -> list[str]:
    """Tokens of `text` after the German normalisation described in the module docstring."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _THOUSANDS.sub(_fold_thousands, text)
    text = _strip_diacritics(text)
    tokens: list[str] = []
    for tok in _TOKEN.findall(text):
        if tok[0].isdigit():
            tok = re.sub(r"[,:]", ".", tok)
            if tok.isdigit():
                tok = tok.lstrip("0") or "0"
        else:
            tok = _DIGRAPHS.sub(lambda m: m.group(0)[0], tok)
        tokens.append(tok)
    return tokens


def normalize(text: str) -> str:
    """Canonical form for German answer matching: `normalize_tokens` joined by spaces."""
    return " ".join(normalize_tokens(text))


# --------------------------------------------------------------------------------------------
# Answer matching
# --------------------------------------------------------------------------------------------


def _answer_pattern(answer_norm: str) -> re.Pattern[str]:
    # Start at a token boundary; German inflection may extend the last word
    # ("Friedensabkommen" matches "Friedensabkommens"), but a trailing number must end
    # there ("12" must not match "120000").
    tail = r"(?![\w.])" if answer_norm[-1].isdigit() else ""
    return re.compile(r"(?<!\S)" + re.escape(answer_norm) + tail)


def contains_answer(prediction: str, answers: Sequence[str]) -> bool:
    """True if any gold answer occurs in the prediction after normalisation.

    The answer must start at a token boundary and may be followed by extra letters of the
    same word (inflection); an answer ending in a digit must end at a token boundary.
    Empty gold answers never match.
    """
    pred = normalize(prediction)
    for answer in answers:
        gold = normalize(answer)
        if gold and _answer_pattern(gold).search(pred):
            return True
    return False


def exact_match(prediction: str, answers: Sequence[str]) -> bool:
    """True if the normalised prediction equals any normalised, non-empty gold answer."""
    pred = normalize(prediction)
    return any(gold == pred for gold in map(normalize, answers) if gold)


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD-style token F1 on normalised tokens, maximised over the gold answers.

    0.0 when there are no (non-empty) gold answers, e.g. for unanswerable cases.
    """
    pred = normalize_tokens(prediction)
    best = 0.0
    for answer in answers:
        gold = normalize_tokens(answer)
        if not gold or not pred:
            continue
        common = sum((Counter(pred) & Counter(gold)).values())
        if common == 0:
            continue
        precision = common / len(pred)
        recall = common / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


# --------------------------------------------------------------------------------------------
# Retrieval
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrievedChunk:
    """What the scorer needs from a retrieved passage: its article and its text."""

    doc: str  # article file name or id; compared by file name without extension
    text: str


_WS = re.compile(r"\s+")


def _squash(text: str) -> str:
    # Chunkers and cleaners often rewrite whitespace (no-break spaces, line breaks), so
    # overlap is judged on whitespace-collapsed text.
    return _WS.sub(" ", text).strip()


def _doc_key(doc: str) -> str:
    # Bench and sample file names are unique, so the bare stem identifies an article whether
    # the retriever reports "004_x.txt", "articles/004_x.txt" or "004_x".
    return PurePath(doc.replace("\\", "/")).stem.casefold()


def text_overlaps(chunk: str, context: str, min_chars: int = 40) -> bool:
    """True if chunk and context share a substring of min(len(context), min_chars) chars.

    Also true if either contains the other. Whitespace is collapsed first. Exact and
    linear-ish: every length-L window of the chunk goes into a set, then the context's
    windows are looked up.
    """
    a, b = _squash(chunk), _squash(context)
    if not a or not b:
        return False
    if b in a or a in b:
        return True
    size = min(len(b), min_chars)
    if len(a) < size:
        return False
    windows = {a[i : i + size] for i in range(len(a) - size + 1)}
    return any(b[i : i + size] in windows for i in range(len(b) - size + 1))


def hit_contexts(chunk: RetrievedChunk, case: TestCase) -> set[int]:
    """Indices of the case's gold contexts that this chunk is evidence for.

    With gold contexts: the chunk must come from that context's doc and overlap the context
    (an answer string alone is not enough: numbers recur across paragraphs). Without
    contexts: {0} if the chunk (from a gold doc, when docs are given) contains a gold answer.
    """
    key = _doc_key(chunk.doc)
    if case.contexts:
        hits: set[int] = set()
        for i, context in enumerate(case.contexts):
            doc = case.docs[i] if i < len(case.docs) else None
            if doc is not None and _doc_key(doc) != key:
                continue
            if text_overlaps(chunk.text, context):
                hits.add(i)
        return hits
    if case.docs and key not in {_doc_key(d) for d in case.docs}:
        return set()
    return {0} if contains_answer(chunk.text, case.answers) else set()


def chunk_hits(chunk: RetrievedChunk, case: TestCase) -> bool:
    """Whether a retrieved chunk is evidence for any gold context of the case."""
    return bool(hit_contexts(chunk, case))


def first_hit_rank(retrieved: Sequence[RetrievedChunk], case: TestCase) -> int | None:
    """1-based rank of the first retrieved chunk that hits any gold context, else None."""
    for rank, chunk in enumerate(retrieved, start=1):
        if chunk_hits(chunk, case):
            return rank
    return None


def all_contexts_rank(retrieved: Sequence[RetrievedChunk], case: TestCase) -> int | None:
    """1-based rank by which every gold context has been hit, else None.

    For multi-document questions, where one hit is not enough evidence to answer.
    """
    needed = set(range(len(case.contexts))) if case.contexts else {0}
    for rank, chunk in enumerate(retrieved, start=1):
        needed -= hit_contexts(chunk, case)
        if not needed:
            return rank
    return None


def recall_at(ranks: Sequence[int | None], k: int) -> Metric:
    """Share of cases whose first hit is within the top k (None = never hit)."""
    _check_k(k)
    return mean(1.0 if r is not None and r <= k else 0.0 for r in ranks)


def mrr_at(ranks: Sequence[int | None], k: int) -> Metric:
    """Mean reciprocal rank, counting hits beyond k (and misses) as 0."""
    _check_k(k)
    return mean(1.0 / r if r is not None and r <= k else 0.0 for r in ranks)


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


class RefusalScores(TypedDict):
    """How well the assistant says "not in the articles" exactly when it should."""

    precision: float  # of the refused cases, share that were unanswerable
    recall: float  # of the unanswerable cases, share that were refused
    f1: float
    false_refusal_rate: float  # of the answerable cases, share that were refused
    n: int
    n_refused: int
    n_unanswerable: int
    n_answerable: int


def refusal_scores(cases_refused: Iterable[tuple[bool, bool]]) -> RefusalScores:
    """Score refusals from (case is unanswerable, assistant refused) pairs.

    Rates with an empty denominator are 0.0; the `n_*` counts say which those are.
    """
    tp = fp = fn = tn = 0
    for unanswerable, refused in cases_refused:
        if unanswerable and refused:
            tp += 1
        elif refused:
            fp += 1
        elif unanswerable:
            fn += 1
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return RefusalScores(
        precision=precision,
        recall=recall,
        f1=f1,
        false_refusal_rate=fp / (fp + tn) if fp + tn else 0.0,
        n=tp + fp + fn + tn,
        n_refused=tp + fp,
        n_unanswerable=tp + fn,
        n_answerable=fp + tn,
    )
