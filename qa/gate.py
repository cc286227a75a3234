"""Answerable from these passages? A fitted decision, made before any model runs.

Rank-fusion scores say nothing absolute, and word coverage alone cannot see that an English
question is answered by a German passage. The gate combines measured signals (the best
query-passage cosine under the embedding model, the share of the question's content words the
passages cover, the share of its names and numbers one passage holds, whether the question is
in another language than the passages) in a small
logistic model fitted by `scripts/fit_gate.py` on the public bench and stored, with what
produced it, in `qa/data/answer_gate.json`. The fitted weights belong to one embedding model;
with any other model the gate falls back to word coverage (`QA_REFUSE_BELOW`), since cosine
ranges differ between models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qa.claim_check import question_terms
from qa.logit import logistic
from qa.retrieval import is_cross_lingual
from qa.schema import Hit
from qa.settings import Settings
from qa.support import EvidenceTerms, content_stems

DEFAULT_GATE_FILE = Path(__file__).parent / "data" / "answer_gate.json"
FEATURES = ("top_cos", "coverage", "cross_lingual", "key_coverage")


def coverage(query: str, hits: list[Hit]) -> float:
    """Share of the question's content stems found in the passages (0..1)."""
    terms = set(content_stems(query))
    if not hits or not terms:
        return 0.0
    found: set[str] = set()
    for hit in hits:
        found |= terms & set(content_stems(f"{hit.title} {hit.text}"))
    return len(found) / len(terms)


def key_coverage(query: str, hits: list[Hit]) -> float:
    """Share of the question's names and numbers that one passage holds, for the passage
    holding most: a distractor on the same topic shares the topic's words, rarely the very
    names and figures asked about ("die NATO im März 2022 nach Polen")."""
    terms = question_terms(query)
    if not hits:
        return 0.0
    if not terms:
        return 1.0
    best = 0
    for hit in hits:
        evidence = EvidenceTerms(f"{hit.title} {hit.text}")
        best = max(best, sum(evidence.has(t) for t in terms))
    return best / len(terms)


def top_cosine(hits: list[Hit]) -> float:
    """The best query-passage cosine among the hits (0 when none came from the dense side)."""
    return max((h.dense_score for h in hits if h.dense_score is not None), default=0.0)


def features(query: str, hits: list[Hit]) -> dict[str, float]:
    """The gate's inputs. Word coverage means nothing across languages, so it is 0 there and
    `cross_lingual` lets the fitted model lean on the cosine alone."""
    cross = is_cross_lingual(query, [h.text for h in hits[:3]])
    return {
        "top_cos": top_cosine(hits),
        "coverage": 0.0 if cross else coverage(query, hits),
        "cross_lingual": float(cross),
        "key_coverage": 0.0 if cross else key_coverage(query, hits),
    }


@dataclass(frozen=True)
class Decision:
    answerable: bool
    score: float  # P(answerable) under the fitted gate, or the coverage in fallback mode
    method: str  # "fitted" | "coverage"
    features: dict[str, float]


@dataclass(frozen=True)
class FittedGate:
    """A logistic model over `FEATURES` and the threshold picked for a false-refusal target."""

    embed_model: str
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def probability(self, values: dict[str, float]) -> float:
        return logistic(self.bias, self.weights, FEATURES, values)


@lru_cache(maxsize=4)
def load_fitted(path: Path) -> FittedGate | None:
    """The fitted gate in `path`, or None if there is none (the fallback then applies)."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{path} was fitted on features {data['features']}, not {FEATURES}")
    return FittedGate(
        embed_model=data["embed_model"], weights=tuple(data["weights"]), bias=data["bias"],
        threshold=data["threshold"],
    )


class AnswerGate:
    """Decides per question whether the retrieved passages can answer it."""

    def __init__(self, settings: Settings) -> None:
        fitted = load_fitted(settings.gate_file or DEFAULT_GATE_FILE)
        self.fitted = fitted if fitted and fitted.embed_model == settings.embed_model else None
        self.refuse_below = settings.refuse_below

    def decide(self, query: str, hits: list[Hit]) -> Decision:
        values = features(query, hits)
        if not hits:
            return Decision(False, 0.0, "fitted" if self.fitted else "coverage", values)
        if self.fitted is None:
            cov = values["coverage"]
            return Decision(cov >= self.refuse_below, cov, "coverage", values)
        p = self.fitted.probability(values)
        return Decision(p >= self.fitted.threshold, p, "fitted", values)
