"""How well a passage sentence supports a claim: stemmed lexical overlap + embedding similarity.

Shared by the citation verifier (does the cited passage back this answer sentence?) and the
extractive mode (which passage sentence answers this question?). Within one language, word
overlap and cosine are mixed and the cosine only counts in proportion to word evidence; across
languages (an English question, German articles) words cannot match, so the multilingual
cosine decides alone. How cosines map to support (and the mix) is fitted per embedding model
by `scripts/fit_support.py` and stored in `qa/data/support.json`.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import numpy as np

from qa.bm25 import analyze
from qa.chunking import split_sentences
from qa.embedding import Embedder
from qa.language import language
from qa.word_alignment import WordVectors, encode_with_words

K = TypeVar("K")
V = TypeVar("V")

#: Stems too common to count as evidence (question words, auxiliaries, articles), both languages.
STOP_STEMS = set(analyze(
    "der die das den dem des ein eine einer eines einem einen und oder aber nicht kein keine "
    "ist sind war waren wird werden wurde wurden hat haben hatte hatten sein seine ihr ihre es "
    "er sie wir ich man sich auch noch schon nur so wie was wer wen wem wessen wann wo warum "
    "welche welcher welches wieso weshalb wieviel viele mit von zu zum zur im in am an auf aus "
    "bei für über unter nach vor seit um als dass da dies diese dieser dieses dazu laut denn "
    "the a an of to in on at for is are was were be been has have had did does do what who "
    "when where why which how many much and or not it its this that with by from as"
))
#: Passage-sentence vectors kept between calls (a few answers' worth of sentences).
_CACHED_VECTORS = 2048
#: Sentences per encode batch: 26 sentences of 10-60 tokens took 0.66 s in batches of 8 or 16
#: and 0.84 s in one padded batch of 64 (1 thread, e5-small, on the sample articles).
_SENTENCE_BATCH = 16
SUPPORT_FILE = Path(__file__).parent / "data" / "support.json"


@dataclass(frozen=True)
class Calibration:
    """cosine -> support: clip((cos - low) / (high - low)); mixed with words by `lexical_weight`."""

    low: float
    high: float
    lexical_weight: float
    #: lexical support at which the cosine counts fully (same-language pairs)
    lexical_gate: float

    def semantic(self, cos: np.ndarray) -> np.ndarray:
        return np.clip((cos - self.low) / (self.high - self.low), 0.0, 1.0)


#: The MiniLM-era mix (cosines of related text 0.3-0.8), used for models with no fitted entry.
FALLBACK = Calibration(low=0.2, high=0.8, lexical_weight=0.65, lexical_gate=0.5)


@lru_cache(maxsize=4)
def _fitted(path: Path) -> dict[str, Calibration]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {model: Calibration(**entry["calibration"]) for model, entry in data.items()}


def calibration_for(embed_model: str, path: Path = SUPPORT_FILE) -> Calibration:
    return _fitted(path).get(embed_model, FALLBACK)


def content_stems(text: str) -> list[str]:
    """Stems that carry meaning: no stop words, no single characters."""
    return [t for t in analyze(text) if t not in STOP_STEMS and len(t) > 1]


def is_content_word(word: str) -> bool:
    """A word that carries meaning (the words `qa.word_alignment` matches)."""
    return bool(content_stems(word))


def lexical_support(claim: str, evidence: str) -> float:
    """Share of the claim's content stems found in the evidence (numbers weigh double).

    German compounds count: "zwei Stunden" is found in "zweistündigen", "Gipfel" in
    "Videogipfel" (a stem of 4+ letters inside a longer evidence word).
    """
    claim_terms = content_stems(claim)
    if not claim_terms:
        return 0.0
    terms = EvidenceTerms(evidence)
    total = found = 0.0
    for term in set(claim_terms):
        weight = 2.0 if term.isdigit() else 1.0
        total += weight
        if terms.has(term):
            found += weight
    return found / total


class EvidenceTerms:
    """The stems of an evidence text, for "is this claim word there?" with compounds."""

    def __init__(self, evidence: str) -> None:
        self.terms = set(analyze(evidence))
        self.long = [t for t in self.terms if len(t) > 5]

    def has(self, term: str) -> bool:
        return term in self.terms or (
            len(term) >= 4 and not term.isdigit() and any(term in t for t in self.long)
        )


# "100.000", "100 000", "1,000" are one number; "2,5" and "2.5" are the same decimal.
_NUMBER = re.compile(r"\d+(?:[.,\s\u00a0\u202f'’]\d{3}(?!\d))*(?:[.,]\d+(?!\d))?")
_DATE = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{2,4})\b")
_CLOCK = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")
_NUMBER_WORDS = {
    "2": ("zwei", "two", "zweit", "second"), "3": ("drei", "three", "dritt", "third"),
    "4": ("vier", "four"), "5": ("fünf", "five"), "6": ("sechs", "six"),
    "7": ("sieben", "seven"), "8": ("acht", "eight"), "9": ("neun", "nine"),
    "10": ("zehn", "ten"), "11": ("elf", "eleven"), "12": ("zwölf", "twelve"),
    "1": ("ein", "one", "erst", "first"),
}
_MONTHS = {
    name: str(i % 12 + 1) for i, name in enumerate(
        "januar februar märz april mai juni juli august september oktober november dezember "
        "january february march april may june july august september october november december"
        .split())
} | {"jänner": "1"}


def numbers(text: str) -> set[str]:
    """Numbers written in digits, normalised: "100 000" -> "100000", "2,5" -> "2.5"."""
    text = _DATE.sub(r"\1 \2 \3", text)  # 8.12.2021 is day, month, year, not 8.12
    text = _CLOCK.sub(r"\1.\2", text)  # "21:30" is the time German writes "21.30 Uhr"
    out: set[str] = set()
    for match in _NUMBER.finditer(text):
        raw = re.sub(r"[.,\s\u00a0\u202f'’](?=\d{3}(?!\d))", "", match.group())
        raw = raw.replace(",", ".")
        whole, _, frac = raw.partition(".")
        whole = whole.lstrip("0") or "0"
        out.add(f"{whole}.{frac}" if frac else whole)
    return out


def stated_numbers(evidence: str) -> set[str]:
    """Numbers the evidence gives as digits, as a number word or as a month name.

    A model that writes "1997" where the passage says "1981" shares every other word with it;
    lexical and embedding scores both call that support, so the verifier checks a sentence's
    `numbers` against these on their own.
    """
    lower = evidence.lower()
    have = numbers(evidence)
    have |= {n for name, n in _MONTHS.items() if name in lower}
    have |= {n for n, words in _NUMBER_WORDS.items() if any(w in lower for w in words)}
    return have


@dataclass(frozen=True)
class SentenceSpan:
    """A sentence of a passage, with its span relative to the passage text."""

    start: int
    end: int
    text: str


def passage_sentences(text: str) -> list[SentenceSpan]:
    return [SentenceSpan(s, e, text[s:e]) for s, e in split_sentences(text)]


class SupportScorer:
    """Scores claims against passage sentences; embeds everything in one batch per call."""

    def __init__(self, embedder: Embedder | None, calibration: Calibration | None = None,
                 batch_threads: Callable[[], int] | None = None,
                 cache_size: int = _CACHED_VECTORS) -> None:
        """`batch_threads`: torch threads for embedding new sentences, asked each time (None:
        whatever the calling thread has); the answer service says "all cores" while no model
        is writing, since 30 new sentences take 1.3 s on one thread and 0.74 s on two.
        `cache_size`: sentence vectors kept (a benchmark over a whole corpus keeps more)."""
        self.embedder = embedder
        self.cache_size = cache_size
        self.batch_threads = batch_threads
        self.calibration = calibration or (
            calibration_for(embedder.name) if embedder is not None else FALLBACK
        )
        # Claims (the verifier) keep the stricter word/cosine mix: the fitted one ranks the
        # answer sentence of a question best, but lets "Der Videogipfel dauerte zwei Stunden"
        # be backed by any sentence about the Videogipfel. Only the cosine range is the model's.
        self.claims = Calibration(
            self.calibration.low, self.calibration.high, FALLBACK.lexical_weight,
            FALLBACK.lexical_gate,
        )
        # an answer embeds the same passage sentences up to three times (focusing the prompt,
        # verifying, quoting): keep the recent ones
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._words: OrderedDict[tuple[int, str], WordVectors] = OrderedDict()
        self._lock = threading.Lock()

    def _cached(self, cache: OrderedDict[K, V], keys: Sequence[K],
                compute: Callable[[list[K]], dict[K, V]]) -> dict[K, V]:
        """The values of `keys`: from `cache` (least recently used dropped beyond
        `cache_size`), the missing ones computed by `compute` in one batch, outside the lock."""
        with self._lock:  # the chat answers several questions at once on one scorer
            known = {k: cache[k] for k in keys if k in cache}
        missing = list(dict.fromkeys(k for k in keys if k not in known))
        if missing:
            known.update(compute(missing))
        with self._lock:
            for key in dict.fromkeys(keys):
                cache[key] = known[key]
                cache.move_to_end(key)
            while len(cache) > self.cache_size:
                cache.popitem(last=False)
        return known

    def _batch_threads(self) -> AbstractContextManager[None]:
        assert self.embedder is not None
        threads = self.batch_threads() if self.batch_threads else None
        return self.embedder.using_threads(threads) if threads else nullcontext()

    def passage_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors of `texts`, cached per text: the gate, the prompt's focusing and the
        verifier read the same sentences, which are embedded once."""
        assert self.embedder is not None
        embedder = self.embedder

        def embed(missing: list[str]) -> dict[str, np.ndarray]:
            with self._batch_threads():
                vectors = embedder.encode_passages(missing, batch_size=_SENTENCE_BATCH)
            return dict(zip(missing, vectors, strict=True))

        known = self._cached(self._vectors, texts, embed)
        return np.stack([known[t] for t in texts])

    def passage_words(self, texts: Sequence[str], layer: int) -> list[WordVectors]:
        """Content-word vectors of `texts` at `layer` (`qa.word_alignment`), cached per text;
        the pass that makes them also gives the sentence vectors, which go into the sentence
        cache, so the gate embeds its sentences once for both."""
        assert self.embedder is not None
        embedder = self.embedder
        fresh: dict[str, np.ndarray] = {}

        def embed(missing: list[tuple[int, str]]) -> dict[tuple[int, str], WordVectors]:
            batch = [text for _, text in missing]
            with self._batch_threads():
                matrix, words = encode_with_words(embedder.model, batch, embedder.passage_prefix,
                                                  layer, is_content_word, _SENTENCE_BATCH)
            fresh.update(zip(batch, matrix, strict=True))
            return dict(zip(missing, words, strict=True))

        known = self._cached(self._words, [(layer, t) for t in texts], embed)
        if fresh:  # kept where not cached already
            self._cached(self._vectors, list(fresh), lambda new: {t: fresh[t] for t in new})
        return [known[(layer, t)] for t in texts]

    def query_words(self, query: str, layer: int) -> WordVectors:
        """The question's content-word vectors at `layer`, embedded as a query."""
        assert self.embedder is not None
        _, words = encode_with_words(self.embedder.model, [query], self.embedder.query_prefix,
                                     layer, is_content_word)
        return words[0]

    def matrix(
        self,
        claims: Sequence[str],
        sentences: Sequence[str],
        questions: bool = False,
        claim_lang: str | None = None,
    ) -> np.ndarray:
        """support[i, j] of claim i by sentence j, in [0, 1].

        `questions`: the claims are questions (the quote picker), embedded as queries.
        `claim_lang`: the claims' language when the caller knows it (a short sentence has too
        few function words to tell).
        """
        out = np.zeros((len(claims), len(sentences)), dtype="float32")
        if not len(claims) or not len(sentences):
            return out
        for i, claim in enumerate(claims):
            for j, sentence in enumerate(sentences):
                out[i, j] = lexical_support(claim, sentence)
        if self.embedder is None:
            return out
        if questions:
            left = np.stack([self.embedder.encode_query(c) for c in claims])
        else:
            left = self.embedder.encode_passages(list(claims))
        cos = left @ self.passage_vectors(sentences).T
        same = same_language(claims, sentences, claim_lang)
        return combine(out, cos, same, self.calibration if questions else self.claims)


def same_language(
    claims: Sequence[str], sentences: Sequence[str], claim_lang: str | None = None
) -> np.ndarray:
    """same[i, j]: claim i and sentence j are in one language (words can match)."""
    claim_langs = [claim_lang or language(c) for c in claims]
    sentence_langs = [language(s) for s in sentences]
    return np.array([[c == s for s in sentence_langs] for c in claim_langs], dtype=bool).reshape(
        len(claims), len(sentences))


def combine(lexical: np.ndarray, cos: np.ndarray, same: np.ndarray, cal: Calibration) -> np.ndarray:
    """The support formula (also what scripts/fit_support.py fits its parameters for).

    Within one language a shared rare word makes sentences look close ("Videogipfel" alone
    does not back "gut zwei Stunden"), so the cosine counts in proportion to word evidence;
    across languages words cannot match and the cosine decides alone.
    """
    semantic = cal.semantic(cos)
    mixed = cal.lexical_weight * lexical + (1 - cal.lexical_weight) * semantic * np.minimum(
        1.0, lexical / cal.lexical_gate
    )
    return np.where(same, mixed, semantic).astype("float32")
