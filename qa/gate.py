"""Answerable from these passages? A fitted decision, made before any model runs.

Rank-fusion scores say nothing absolute, and word coverage alone cannot see that an English
question is answered by a German passage. The gate combines measured signals in a small
logistic model fitted by `scripts/fit_gate.py` on the public bench and stored, with what
produced it, in `qa/data/answer_gate.json`:

- passage level: the best query-passage cosine under the embedding model, the share of the
  question's content words the passages cover, the share of its names and numbers one passage
  holds, whether the question is in another language than the passages (those get their own
  threshold: their cosines run lower);
- sentence level: how far the best query-sentence cosine stands above the median sentence of
  the first passages. A passage on the question's topic is close to the question as a whole;
  only a passage that answers it holds one sentence that is much closer than the rest. On the
  bench this raised refusal recall at 5% false refusals more than any other signal;
- words: how much of the question the best sentence (alone, or with its next neighbour) holds,
  each question word matched by meaning to its closest word there (`qa.word_alignment`). It
  works across languages, where the word features cannot, and sees a missing part of the
  question that one sentence vector blurs;
- rankings: whether the top passage is near the top of both the dense and the BM25 ranking,
  and the BM25 score of the best passage per question word;
- answer type (computed, measured, not in the fitted set): a "wann"/"wie viele" question
  whose closest sentences hold no date or number.

The fitted weights belong to one embedding model; with any other model the gate falls back to
word coverage (`QA_REFUSE_BELOW`), since cosine ranges differ between models.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.answer_type import expected_type, has_type
from qa.claim_check import question_terms
from qa.embedding import Embedder
from qa.logit import logistic
from qa.retrieval import is_cross_lingual
from qa.schema import Hit
from qa.settings import Settings
from qa.support import EvidenceTerms, SupportScorer, content_stems, passage_sentences
from qa.word_alignment import best_pair_recall, best_recall

DEFAULT_GATE_FILE = Path(__file__).parent / "data" / "answer_gate.json"
#: Everything `features` computes; a fitted file names the ones its weights are for.
FEATURE_POOL = ("top_cos", "coverage", "cross_lingual", "key_coverage", "sent_cos",
                "sent_margin", "top_both", "bm25_per_term", "type_missing", "word_recall",
                "word_recall_pair")
#: The features `scripts/fit_gate.py` fits by default: chosen by backward elimination with
#: 5-fold cross-validation on the fit half (`--select`), which dropped `top_both`, `coverage`
#: and `type_missing`: with the word recall in, leaving each out raised the cross-validated
#: refusal recall (one question in five asks for a date or number, and there the cosines
#: already tell most of it).
FEATURES = ("top_cos", "cross_lingual", "key_coverage", "sent_cos", "sent_margin",
            "bm25_per_term", "word_recall", "word_recall_pair")
#: Features that need the passages' sentences embedded.
SENTENCE_FEATURES = frozenset({"sent_cos", "sent_margin", "type_missing", "word_recall",
                               "word_recall_pair"})
#: Of those, the ones that need word vectors (of the fitted gate's `word_layer`).
WORD_FEATURES = frozenset({"word_recall", "word_recall_pair"})
#: The sentences of how many of the first passages are embedded for the sentence features.
#: All five (~22 sentences) cost 1.4 s on one busy core for a refused question (an answered
#: one reuses the vectors for its prompt); the first three (~13) separated the classes as well
#: on the fit half's cross-validation (mean refusal recall 0.801 vs 0.803; two: 0.789).
SENTENCE_PASSAGES = 3
#: How many of the sentences closest to the question a date or number asked for must be in
#: (two separated the classes best on the fit half; one missed answers a sentence later).
TYPE_SENTENCES = 2


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


def top_in_both(hits: list[Hit], depth: int = 3) -> float:
    """1 when the first passage is among the top `depth` of both the dense and the BM25
    ranking. Near-topic distractors tend to win one ranking (the topic's words, or its
    meaning) but not both; the passage that answers usually wins both."""
    if not hits:
        return 0.0
    top = hits[0]
    return float(top.dense_rank is not None and top.bm25_rank is not None
                 and top.dense_rank <= depth and top.bm25_rank <= depth)


def bm25_per_term(query: str, hits: list[Hit]) -> float:
    """The best passage's BM25 score per content word of the question. A BM25 score grows
    with the question's length, so alone it says nothing; per word it says how many of the
    question's (rare) words one passage holds."""
    scores = [h.bm25_score for h in hits if h.bm25_score is not None]
    if not scores:
        return 0.0
    return max(scores) / max(1, len(set(content_stems(query))))


@dataclass(frozen=True)
class SentenceEvidence:
    """The passages' sentences ranked by cosine to the question."""

    sentences: list[str]
    cosines: np.ndarray  # one per sentence, in `sentences` order

    @property
    def best(self) -> float:
        return float(self.cosines.max()) if len(self.cosines) else 0.0

    @property
    def margin(self) -> float:
        """How far the best sentence stands above the median sentence of the passages."""
        return float(self.cosines.max() - np.median(self.cosines)) if len(self.cosines) else 0.0

    def closest(self, n: int) -> list[str]:
        return [self.sentences[i] for i in np.argsort(-self.cosines)[:n]]


def passage_sentence_texts(hits: Sequence[Hit]) -> list[str]:
    """The sentences of the passages, each once (overlapping chunks share sentences)."""
    return list(dict.fromkeys(s.text for h in hits for s in passage_sentences(h.text)))


def sentence_evidence(query: str, hits: Sequence[Hit], scorer: SupportScorer) -> SentenceEvidence:
    """Embed the sentences of the first `SENTENCE_PASSAGES` passages (through `scorer`'s
    cache, which the prompt's focusing and the quote picker reuse for the same sentences) and
    score them against the query."""
    sentences = passage_sentence_texts(hits[:SENTENCE_PASSAGES])
    if not sentences or scorer.embedder is None:
        return SentenceEvidence(sentences, np.zeros(len(sentences), dtype="float32"))
    query_vector = scorer.embedder.encode_query(query)
    vectors = scorer.passage_vectors(sentences)
    return SentenceEvidence(sentences, vectors @ query_vector)


def word_features(query: str, hits: Sequence[Hit], scorer: SupportScorer,
                  layer: int) -> dict[str, float]:
    """How much of the question the best sentence of the first `SENTENCE_PASSAGES` passages
    holds (`word_recall`), and the best sentence with its next neighbour (`word_recall_pair`),
    by the words' vectors at `layer`. Embedding the sentences for this also caches their
    sentence vectors, so `sentence_evidence` reads them without a second pass."""
    passages = [list(dict.fromkeys(s.text for s in passage_sentences(h.text)))
                for h in hits[:SENTENCE_PASSAGES]]
    texts = list(dict.fromkeys(t for p in passages for t in p))
    if not texts or scorer.embedder is None:
        return {"word_recall": 0.0, "word_recall_pair": 0.0}
    words = dict(zip(texts, scorer.passage_words(texts, layer), strict=True))
    grouped = [[words[t] for t in p] for p in passages]
    question = scorer.query_words(query, layer)
    return {"word_recall": best_recall(question, grouped),
            "word_recall_pair": best_pair_recall(question, grouped)}


def type_missing(query: str, closest: Sequence[str]) -> float:
    """1 when the question asks for a date or a number ("Wann ...?", "Wie viele ...?") and
    none of its closest sentences holds one it did not name itself. Names and places are not
    checked: in German every noun is capitalised, and on the bench the check did not
    separate the classes."""
    kind = expected_type(query)
    if kind not in ("date", "number") or not closest:
        return 0.0
    return float(not any(has_type(s, kind, query) for s in closest))


def features(query: str, hits: list[Hit], scorer: SupportScorer | None = None,
             names: Sequence[str] = FEATURE_POOL, word_layer: int | None = None,
             ) -> dict[str, float]:
    """The gate's inputs (those in `names`). Word-overlap features mean nothing across
    languages, so they are 0 there and `cross_lingual` lets the fitted model lean on the
    cosines. Sentence features need `scorer` (with an embedder), word-vector features also a
    `word_layer`; without them they are not computed."""
    cross = is_cross_lingual(query, [h.text for h in hits[:3]])
    out = {
        "top_cos": top_cosine(hits),
        "coverage": 0.0 if cross else coverage(query, hits),
        "cross_lingual": float(cross),
        "key_coverage": 0.0 if cross else key_coverage(query, hits),
        "top_both": top_in_both(hits),
        "bm25_per_term": 0.0 if cross else bm25_per_term(query, hits),
    }
    if scorer is not None and word_layer is not None and WORD_FEATURES & set(names):
        out.update(word_features(query, hits, scorer, word_layer))
    if scorer is not None and SENTENCE_FEATURES & set(names):
        evidence = sentence_evidence(query, hits, scorer)
        out["sent_cos"] = evidence.best
        out["sent_margin"] = evidence.margin
        out["type_missing"] = type_missing(query, evidence.closest(TYPE_SENTENCES))
    return {k: v for k, v in out.items() if k in names}


@dataclass(frozen=True)
class Decision:
    answerable: bool
    score: float  # P(answerable) under the fitted gate, or the coverage in fallback mode
    method: str  # "fitted" | "coverage"
    features: dict[str, float]
    threshold: float = 0.5  # the score it was held against (per language pairing)

    @property
    def margin(self) -> float:
        """How far the score stands above its threshold, in log-odds: comparable across the
        same-language and cross-lingual thresholds (scores and thresholds clipped to
        [1e-6, 1 - 1e-6], so a certain decision is finite)."""
        clip = min(max(self.score, 1e-6), 1 - 1e-6), min(max(self.threshold, 1e-6), 1 - 1e-6)
        return math.log(clip[0] / (1 - clip[0])) - math.log(clip[1] / (1 - clip[1]))


@dataclass(frozen=True)
class FittedGate:
    """A logistic model over `features` and the threshold picked for a false-refusal target."""

    embed_model: str
    weights: tuple[float, ...]
    bias: float
    threshold: float
    features: tuple[str, ...] = FEATURES
    #: The threshold for questions in another language than their passages, picked for the
    #: same false-refusal target among those alone: their cosines run lower, and one threshold
    #: for both refused twice as many answerable English questions as German ones.
    threshold_cross_lingual: float | None = None
    fitted_at: str = ""  # when scripts/fit_gate.py fitted it: what fits on its margins refer to
    #: The encoder layer whose token vectors the word features use (`qa.word_alignment`).
    word_layer: int | None = None

    def probability(self, values: dict[str, float]) -> float:
        return logistic(self.bias, self.weights, self.features, values)

    def threshold_for(self, values: dict[str, float]) -> float:
        if values.get("cross_lingual") and self.threshold_cross_lingual is not None:
            return self.threshold_cross_lingual
        return self.threshold


@lru_cache(maxsize=4)
def load_fitted(path: Path) -> FittedGate | None:
    """The fitted gate in `path`, or None if there is none (the fallback then applies)."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    names = tuple(data["features"])
    unknown = [f for f in names if f not in FEATURE_POOL]
    if WORD_FEATURES & set(names) and not isinstance(data.get("word_layer"), int):
        raise ValueError(f"{path} uses word features but names no 'word_layer'")
    if unknown or len(data["weights"]) != len(names):
        raise ValueError(f"{path} was fitted on features {data['features']}; the gate computes "
                         f"{FEATURE_POOL}")
    return FittedGate(
        embed_model=data["embed_model"], weights=tuple(data["weights"]), bias=data["bias"],
        threshold=data["threshold"], features=names,
        threshold_cross_lingual=data.get("threshold_cross_lingual"),
        fitted_at=data.get("fitted", {}).get("at", ""), word_layer=data.get("word_layer"),
    )


_SHARED: dict[tuple[str, int], SupportScorer] = {}
_SHARED_LOCK = threading.Lock()


def shared_scorer(settings: Settings) -> SupportScorer:
    """One scorer (model and sentence cache) per embedding model for gates built without one
    (the evaluation runner builds a gate per question)."""
    key = (settings.embed_model, settings.torch_threads)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = SupportScorer(Embedder(settings))
        return _SHARED[key]


class AnswerGate:
    """Decides per question whether the retrieved passages can answer it.

    `scorer`: the answer service's support scorer, so the gate shares its model and its
    sentence vectors (the prompt's focusing embeds the same sentences next); without one a
    shared scorer is made when the fitted gate needs sentence features.
    """

    def __init__(self, settings: Settings, scorer: SupportScorer | None = None) -> None:
        fitted = load_fitted(settings.gate_file or DEFAULT_GATE_FILE)
        self.fitted = fitted if fitted and fitted.embed_model == settings.embed_model else None
        self.refuse_below = settings.refuse_below
        self.settings = settings
        self._scorer = scorer

    @property
    def scorer(self) -> SupportScorer | None:
        if self.fitted is None or not SENTENCE_FEATURES & set(self.fitted.features):
            return None
        if self._scorer is None:
            self._scorer = shared_scorer(self.settings)
        return self._scorer

    def decide(self, query: str, hits: list[Hit]) -> Decision:
        if self.fitted is None:
            values = features(query, hits, None, ("coverage", "top_cos", "cross_lingual"))
            cov = values["coverage"]
            return Decision(bool(hits) and cov >= self.refuse_below, cov, "coverage", values,
                            self.refuse_below)
        if not hits:
            return Decision(False, 0.0, "fitted", {})
        names = (*self.fitted.features, "cross_lingual")
        values = features(query, hits, self.scorer, names, self.fitted.word_layer)
        p = self.fitted.probability(values)
        threshold = self.fitted.threshold_for(values)
        return Decision(p >= threshold, p, "fitted", values, threshold)
