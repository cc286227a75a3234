"""Does this passage sentence state the claim? A fitted check, not word overlap alone.

Word overlap lets "Der russische Verteidigungsminister ist Olexij Resnikow" pass against "der
ukrainische Verteidigungsminister Olexij Resnikow": all but one word match. What tells them
apart is the one claim word the sentence lacks, so the check counts the claim's key words (names,
nouns, nationalities) missing from the supporting sentence itself and from the
sentence with its neighbours (a pronoun's name is one sentence up), and a nationality or role
given differently next to the same word ("ukrainische Verteidigungsminister"); a short
reply ("Die Antwort ist 120.000.") means nothing without its question, so for short claims the
question's names and numbers must be in the sentence's neighbourhood too. These and the
support score are combined by a logistic model fitted on a claim set built from the bench
(`scripts/fit_claims.py`, `qa/evaluation/claimset.py`) and stored per embedding model in
`qa/data/claim_check.json`; across languages, and for a model with no fitted entry, the
support score and its threshold decide as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.attribute_words import to_german
from qa.bm25 import analyze
from qa.logit import logistic
from qa.support import STOP_STEMS, EvidenceTerms

CLAIM_CHECK_FILE = Path(__file__).parent / "data" / "claim_check.json"
#: What `pair_features` computes; the fit script picks `FEATURES` from these.
FEATURE_POOL = ("support", "missing_sentence", "missing_window", "attribute_conflict", "short",
                "short_support", "short_new", "short_question_missing",
                "short_question_support", "short_question_gap", "short_top",
                "short_question_absent")
#: The fitted model's inputs. The support score itself is not one: on a claim set whose true
#: claims are the passage's own words it would learn to demand verbatim copies, and models
#: reword ("dauerte" for "hatten gesprochen"). It stays a precondition (QA_SUPPORT_THRESHOLD),
#: and the model judges what rewording cannot excuse: key words missing, attributes changed.
FEATURES = ("missing_sentence", "missing_window", "attribute_conflict", "short",
            "short_support", "short_new", "short_question_missing", "short_question_support",
            "short_question_gap", "short_top", "short_question_absent")
#: Words of a reply's frame, not of its claim ("Laut dem Artikel ...", "Die Antwort ist ...").
FRAMING = set(analyze(
    "antwort antworten lautet laut text texten artikel artikeln passage passagen quelle quellen "
    "angaben angabe zufolge heißt gilt genannt steht beschrieben erwähnt "
    "answer according article articles text passage passages source sources states says"
))
#: Words of one kind a model confuses (the claim check looks for conflicts, the claim set
#: swaps them) ("russische" for "ukrainische"); endings are kept.
NATIONALITIES = (
    "deutsch", "russisch", "ukrainisch", "amerikanisch", "französisch", "britisch", "englisch",
    "italienisch", "spanisch", "polnisch", "chinesisch", "japanisch", "österreichisch",
    "schweizerisch", "türkisch", "griechisch", "römisch", "niederländisch", "schwedisch",
    "europäisch", "sowjetisch", "preußisch", "bayerisch", "katholisch", "evangelisch",
)
#: A country's name, mostly its genitive, says the same as its adjective: "Russlands
#: Außenminister" is the russische one (so "der ukrainische Außenminister Lawrow" conflicts).
COUNTRIES = {
    "russland": "russisch", "ukraine": "ukrainisch", "deutschland": "deutsch",
    "amerika": "amerikanisch", "frankreich": "französisch", "großbritannien": "britisch",
    "england": "englisch", "italien": "italienisch", "spanien": "spanisch", "polen": "polnisch",
    "china": "chinesisch", "japan": "japanisch", "österreich": "österreichisch",
    "türkei": "türkisch", "griechenland": "griechisch", "schweden": "schwedisch",
    "europa": "europäisch", "preußen": "preußisch", "bayern": "bayerisch",
}
#: Written as one form, no genitive ending: "US-Außenminister Blinken".
COUNTRY_FORMS = {"us": "amerikanisch", "usa": "amerikanisch", "eu": "europäisch"}
ROLES = (
    "Präsident", "Minister", "Kanzler", "König", "Kaiser", "Papst", "Bischof", "Bürgermeister",
    "Direktor", "Professor", "General", "Botschafter", "Außenminister", "Verteidigungsminister",
    "Premierminister", "Ministerpräsident", "Gouverneur", "Senator", "Abgeordnete", "Sprecher",
    "Vorsitzende", "Gründer", "Herzog", "Fürst", "Graf",
)
#: A claim with at most this many content words is elliptic: its question says what it is about.
SHORT_CLAIM = 3
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Term:
    stem: str
    key: bool  # a name, noun, number or nationality: what a wrong claim gets wrong


def claim_terms(text: str) -> list[Term]:
    """The claim's content stems (no stop or framing words), each once, marked key or not.

    Key words are capitalised words and nationality adjectives. The rest (verbs, most
    adjectives) is what a model rewords ("dauerte" for "hatten gesprochen"): those are left to
    the support score. Numbers have their own rule: the sentence's neighbourhood must state
    them (`qa.support.stated_numbers`), since a year is often given one sentence earlier.
    """
    out: dict[str, Term] = {}
    for word in _WORD.findall(text):
        key = word[:1].isupper() or word.lower().startswith(NATIONALITIES)
        for stem in analyze(word):
            if stem in STOP_STEMS or stem in FRAMING or len(stem) < 2 or stem in out:
                continue
            out[stem] = Term(stem, key)
    return list(out.values())


def makes_claim(text: str) -> bool:
    """False for connective text ("Laut den Artikeln:"): nothing in it to check."""
    terms = claim_terms(text)
    return len(terms) >= 2 or any(t.key or t.stem.isdigit() for t in terms)


def premise_stems(question: str) -> frozenset[str]:
    """Every content stem of the question: what an answer may repeat as given."""
    return frozenset(t.stem for t in claim_terms(question))


def question_terms(question: str) -> list[str]:
    """The question's names and numbers: capitalised words after the first, and digits."""
    words = _WORD.findall(question)
    keep = [w for i, w in enumerate(words) if w.isdigit() or (i > 0 and w[:1].isupper())]
    return [t.stem for t in claim_terms(" ".join(keep))]


_ROLE_ENDINGS = tuple(r.lower() for r in ROLES)


def _attribute(word: str) -> tuple[str, str] | None:
    """("nationality", stem) for "russischen" and "Russlands", ("role", word) for
    "Außenminister", else None."""
    lower = word.lower()
    for stem in NATIONALITIES:
        if lower.startswith(stem):
            return "nationality", stem
    if word[:1].isupper():
        country = COUNTRY_FORMS.get(lower) or COUNTRIES.get(lower.removesuffix("s"))
        if country:
            return "nationality", country
    if word[:1].isupper() and lower.endswith(_ROLE_ENDINGS):
        return "role", analyze(lower)[0]
    return None


@dataclass(frozen=True)
class Tokens:
    """A text's words, their stems and which of them are nationality or role words."""

    stems: tuple[str, ...]
    attributes: tuple[tuple[str, str] | None, ...]

    @classmethod
    def of(cls, text: str) -> Tokens:
        words = _WORD.findall(text)
        return cls(tuple((analyze(w) or [w.lower()])[0] for w in words),
                   tuple(_attribute(w) for w in words))

    def modified(self) -> list[tuple[str, str, str]]:
        """(kind, value, head): "russische Verteidigungsminister" -> the minister is Russian."""
        return [(a[0], a[1], self.stems[k + 1]) for k, a in enumerate(self.attributes[:-1])
                if a is not None and self.stems[k + 1] not in STOP_STEMS
                and (a[0] == "nationality" or self.attributes[k + 1] is None)]

    def conflicts(self, modified: list[tuple[str, str, str]]) -> int:
        """How many of a claim's attributes this text gives differently, next to the same head
        ("der ukrainische Verteidigungsminister" against "der russische ...")."""
        count = 0
        for kind, value, head in modified:
            for m, stem in enumerate(self.stems):
                if stem != head:
                    continue
                near = [a for a in self.attributes[max(0, m - 2): m] if a and a[0] == kind]
                if near and all(v != value for _, v in near):
                    count += 1
                    break
        return count


@dataclass(frozen=True)
class Evidence:
    """A passage sentence as the check reads it: its words, and its neighbourhood's."""

    sentence: EvidenceTerms
    window: EvidenceTerms
    tokens: Tokens
    passage: EvidenceTerms  # the whole passage, its headline and source: what the article says

    @classmethod
    def of(cls, sentence: str, window: str, title: str = "", passage: str = "") -> Evidence:
        """Every sentence of an article speaks under its headline: "Der Videogipfel dauerte gut
        zwei Stunden" is stated by "Putin und Biden hatten gut zwei Stunden gesprochen" in an
        article headed "Videogipfel: ...", so the title's words count as the sentence's.
        A country's genitive states its adjective: "Russlands Außenminister" is russisch."""
        return cls(EvidenceTerms(_adjectives_added(f"{title} {sentence}")),
                   EvidenceTerms(_adjectives_added(window)), Tokens.of(sentence),
                   EvidenceTerms(_adjectives_added(f"{title} {passage or window}")))


def _nationality_words(text: str) -> list[tuple[str, str]]:
    """(word, nationality) for each word of `text` that gives one ("Russlands", russisch)."""
    return [(w, a[1]) for w in _WORD.findall(text)
            if (a := _attribute(w)) and a[0] == "nationality"]


@lru_cache(maxsize=256)
def _adjectives_added(text: str) -> str:
    """`text` and the nationality adjective of each country form in it ("Russlands"); cached,
    as every sentence of a passage reads the whole passage."""
    extra = [n for w, n in _nationality_words(text) if not w.lower().startswith(n)]
    return f"{text} {' '.join(extra)}" if extra else text


@dataclass(frozen=True)
class ParsedClaim:
    terms: tuple[Term, ...]
    modified: tuple[tuple[str, str, str], ...]
    attributes: tuple[tuple[str, str], ...] = ()  # its nationalities and offices

    @classmethod
    def of(cls, text: str) -> ParsedClaim:
        tokens = Tokens.of(text)
        return cls(tuple(claim_terms(text)), tuple(tokens.modified()),
                   tuple(dict.fromkeys(a for a in tokens.attributes if a is not None)))


_PRONOUN = re.compile(r"^(?:Er|Sie|He|She)\b")


def resolve_pronoun(claim: str, previous: str | None) -> str:
    """"Er forderte X." after "Rjabkow beschrieb Y." is checked as "Rjabkow forderte X.":
    the sentence stating X must be about the same person (the first capitalised content word
    of the previous answer sentence stands in for the pronoun)."""
    if previous is None or not _PRONOUN.match(claim):
        return claim
    subject = next((w for w in _WORD.findall(previous) if w[:1].isupper()
                    and analyze(w) and analyze(w)[0] not in STOP_STEMS), None)
    return _PRONOUN.sub(subject, claim, count=1) if subject else claim


def pair_features(
    claim: ParsedClaim, question: Sequence[str], support: float, evidence: Evidence,
    question_support: float = 0.0, question_gap: float = 0.0,
    premises: frozenset[str] = frozenset(),
) -> dict[str, float]:
    """The check's inputs for one claim against one passage sentence (and its window).

    `question`: the question's names and numbers (`question_terms`); `question_support`: how
    well the sentence answers the question (the quote picker's score); `question_gap`: how far
    it stays behind the passages' best sentence for the question. The question counts only for
    short claims, whose meaning is the question's.

    `premises` (`premise_stems`): models repeat the question around their answer ("Lawrow
    forderte laut AFP ..." to "Was forderte Lawrow laut AFP ...?"). A key word the question
    asked and the passage states (its source, another sentence) is the question's premise, not
    a claim the cited sentence must make, so it does not count as missing; except the claim's
    subject, its first key word: "Rjabkow forderte X" needs a sentence about Rjabkow.
    """
    key = [t for t in claim.terms if t.key]
    if question_gap <= 0.0:  # the question's best sentence: the answer's premise is its own
        key = key[:1] + [t for t in key[1:]
                         if t.stem not in premises or not evidence.passage.has(t.stem)]
    short = float(len(claim.terms) <= SHORT_CLAIM)
    asked = set(question)
    return {
        "support": support,
        "missing_sentence": float(sum(not evidence.sentence.has(t.stem) for t in key)),
        "missing_window": float(sum(not evidence.window.has(t.stem) for t in key)),
        "attribute_conflict": float(evidence.tokens.conflicts(list(claim.modified))),
        "short": short,
        "short_support": short * support,
        # a reply that only repeats the question's names ("Es ist Alaska.") answers nothing
        "short_new": short * sum(t.stem not in asked for t in claim.terms),
        "short_question_missing": short * sum(not evidence.sentence.has(q) for q in question),
        "short_question_support": short * question_support,
        "short_question_gap": short * question_gap,
        # "Die Antwort lautet: 1924." is stated by the sentence that answers the question best,
        # whose own words the reply barely shares (its support score is low)
        "short_top": short * float(question_gap <= 0.0),
        # a figure from a passage about something else ("120.000 Soldaten" to a question about
        # NATO troops in Romania): the question's names are not in that passage at all
        "short_question_absent": short * (sum(not evidence.passage.has(q) for q in question)
                                          / len(question) if question else 0.0),
    }


@dataclass(frozen=True)
class FittedCheck:
    """A logistic model over `FEATURES`; a claim is stated when P >= threshold."""

    embed_model: str
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def probability(self, values: dict[str, float]) -> float:
        return logistic(self.bias, self.weights, FEATURES, values)


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, FittedCheck]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for model, entry in data.items():
        if tuple(entry["features"]) != FEATURES:
            raise ValueError(f"{path} was fitted on features {entry['features']}, not {FEATURES}")
        out[model] = FittedCheck(model, tuple(entry["weights"]), entry["bias"],
                                 entry["threshold"])
    return out


def fitted_check(embed_model: str | None, path: Path = CLAIM_CHECK_FILE) -> FittedCheck | None:
    return _load(path).get(embed_model) if embed_model else None


def check_matrix(
    check: FittedCheck,
    claims: Sequence[str],
    question: str,
    support: np.ndarray,
    sentences: Sequence[str],
    windows: Sequence[str],
    titles: Sequence[str],
    same_language: np.ndarray,
    question_support: np.ndarray,
    min_support: float,
    passages: Sequence[str] | None = None,
) -> np.ndarray:
    """P(stated)[i, j] of claim i by sentence j (whose neighbourhood is windows[j], under the
    headline titles[j], in passages[j]: the passage with its article's source).

    `question_support[j]`: the question's support by sentence j; a pair whose support is
    below `min_support` is not related at all (P 0). Pairs across languages keep their support
    score: word counts mean nothing there.
    """
    best_for_question = float(question_support.max()) if len(question_support) else 0.0
    parsed = [ParsedClaim.of(c) for c in claims]
    asked = question_terms(question) if question else []
    premises = premise_stems(question) if question else frozenset()
    evidence = [Evidence.of(s, w, t, p) for s, w, t, p in zip(
        sentences, windows, titles, passages or windows, strict=True)]
    out = support.astype("float32").copy()
    if not np.all(same_language):  # read in one vocabulary: the English attribute words in German
        glossed = [ParsedClaim.of(to_german(c)) for c in claims]
        glossed_windows = [Tokens.of(to_german(w)) for w in windows]
        whole = [to_german(f"{t} {p}") for t, p in zip(titles, passages or windows, strict=True)]
        stated = {text: PassageAttributes.of(text) for text in set(whole)}  # once per passage
    for i, claim in enumerate(parsed):
        for j, ev in enumerate(evidence):
            if same_language[i, j] and support[i, j] < min_support:
                out[i, j] = 0.0
            elif same_language[i, j]:
                values = pair_features(claim, asked, float(support[i, j]), ev,
                                       float(question_support[j]),
                                       best_for_question - float(question_support[j]),
                                       premises)
                out[i, j] = check.probability(values)
            elif not attributes_agree(glossed[i], glossed_windows[j], stated[whole[j]]):
                out[i, j] = 0.0
    return out


@dataclass(frozen=True)
class PassageAttributes:
    """What a passage (with its headline) states of nationalities and offices."""

    terms: EvidenceTerms
    nationalities: frozenset[str]  # by adjective or country: "Russlands" -> russisch

    @classmethod
    def of(cls, text: str) -> PassageAttributes:
        return cls(EvidenceTerms(text), frozenset(n for _, n in _nationality_words(text)))


def attributes_agree(claim: ParsedClaim, window: Tokens, passage: PassageAttributes) -> bool:
    """For a claim in another language than its passage, both glossed (`to_german`): the
    sentence and its neighbours (`window`) give the claim's nationalities and offices, where
    they give one next to the same word, as the claim does ("der russische Außenminister" and
    "US-Außenminister" in one window state both), and the passage states every one it names.
    Across languages nothing else but the support score and the numbers rule reads a claim,
    and a cosine does not see that "the Russian defence minister" is not "der ukrainische
    Verteidigungsminister". Names are not compared: they are spelled differently across
    languages (Lavrov, Lawrow; Geneva, Genf)."""
    for kind, value, head in claim.modified:
        given = {a[1] for m, stem in enumerate(window.stems) if stem == head
                 for a in window.attributes[max(0, m - 2): m] if a and a[0] == kind}
        # an office may stand in a compound: "Bundeskanzler Werner Faymann" is the Kanzler
        if given and not any(g == value or (kind == "role" and g.endswith(value))
                             for g in given):
            return False  # "der ukrainische Verteidigungsminister", only
    return all(value in passage.nationalities if kind == "nationality"
               else passage.terms.has(value) for kind, value in claim.attributes)
