"""An answer in another language than its passage names no one the passage does not.

Across languages the claim check's support score is a cosine, and a cosine barely moves when
one name in a sentence is swapped: on English claims built from XQuAD over the German articles
(`scripts/fit_name_check.py`), it accepted three in four claims whose answer was swapped for
another answer from the same article. So the names an English answer adds to its question (the
question's own names are its premise and may stand anywhere in the passage) must be in the
supporting sentence or its neighbours: written alike ("Peyton Manning"; "Ukrainer" for
"Ukraine"), or, where the languages spell them apart ("Lavrov", "Lawrow"; "Geneva", "Genf";
"Frederick William", "Friedrich Wilhelm"), matched by meaning by the multilingual encoder's word
vectors (`qa.word_alignment`) at a fitted cosine. The cosine and the layer are fitted on public
data and stored in `qa/data/name_check.json`.

The same holds, more loosely, for the other words an English answer adds ("… based on a
painting", "… caused global warming"): a fitted share of them must match a word of the window
by meaning at the same cosine. A share, not all: a translation is worded apart from its source
more often than a name is, and one word without a close counterpart is no proof.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

from qa.attribute_words import without_attribute_words
from qa.word_alignment import WordVectors

NAME_CHECK_FILE = Path(__file__).parent / "data" / "name_check.json"

# Capitalised words that are no names: sentence openers and function words of an English answer.
_NOT_NAMES = frozenset(
    "the a an and or but if in on at of to for by with from as into about after before during "
    "since until while what who whom whose which when where why how it its this that these "
    "those there here he she they we you i his her their our your is was were are be been did "
    "does do has have had according yes no not also however both".split()
)
# Number words are the number rule's (`qa.support.numbers`); the others add no claim of their
# own, among them an answer's framing ("the article states that …").
_NOT_CLAIMED = _NOT_NAMES | frozenset(
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty "
    "hundred thousand million billion first second third half many much more most some any all "
    "other such than then very can could would should will may might must shall only "
    "called known named them him us me article articles passage passages text states stated "
    "mentions mentioned described describes".split()
)
_CAPITALISED = re.compile(r"\b[A-ZÄÖÜ][\w'’-]*")
_WORD = re.compile(r"[\w'’-]+")
# "Supplemental Nutrition Assistance Program (SNAP)": an acronym of the words before it
_ACRONYM = re.compile(r"\(([A-Z]{2,8})\)")


@dataclass(frozen=True)
class NameCheck:
    """The fitted cosine above which a name counts as matched by meaning, and its layer."""

    min_cosine: float
    layer: int
    #: the share of the other words a claim adds that must match; None: names only
    min_word_share: float | None = None


@lru_cache(maxsize=4)
def load_name_check(path: Path, embed_model: str) -> NameCheck | None:
    """The check fitted for `embed_model`, or None (the rule off): no file, or one fitted for
    another model, whose word vectors put a cosine elsewhere."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("embed_model") != embed_model:
        return None
    share = data.get("min_word_share")
    return NameCheck(float(data["min_cosine"]), int(data["layer"]),
                     float(share) if share is not None else None)


def _bare_case(word: str) -> str:
    """`word` without a possessive "'s" and edge punctuation, in its own case."""
    return re.sub(r"['’]s$", "", word).strip("'’-")


def _bare(word: str) -> str:
    return _bare_case(word).lower()


def _spelled_out(claim: str) -> set[str]:
    """Acronyms in brackets that abbreviate the capitalised words right before them: a model
    adds "(SNAP)" to "Supplemental Nutrition Assistance Program", which claims nothing new."""
    out = set()
    for match in _ACRONYM.finditer(claim):
        acronym = match.group(1)
        before = [w for w in _WORD.findall(claim[:match.start()]) if w[:1].isupper()]
        if "".join(w[0] for w in before[-len(acronym):]) == acronym:
            out.add(acronym.lower())
    return out


def added_names(claim: str, question: str) -> list[str]:
    """The claim's names (capitalised words past its first) that the question does not use;
    an acronym of the words before it counts as those words."""
    # "al-Nimeiry" in the question also gives "Nimeiry"
    asked = ({_bare(part) for w in _WORD.findall(question) for part in (w, *w.split("-"))}
             | _spelled_out(claim))
    first = _WORD.search(claim)
    out: list[str] = []
    for match in _CAPITALISED.finditer(claim):
        name = _bare(match.group())
        if (first is not None and match.start() == first.start()) or len(name) < 2:
            continue
        if name not in _NOT_NAMES and name not in asked and name not in out:
            out.append(name)
    return out


def added_words(claim: str, question: str) -> list[str]:
    """The lower-case content words the claim adds to the question ("painting", "warming"),
    each once: what it says beyond its premise, besides names (`added_names`), numbers and
    the offices and nationalities the attribute rule reads in German ("foreign minister" for
    "Außenminister"). A question word in another form ("helped" for "help") adds nothing."""
    out: list[str] = []
    for raw in _WORD.findall(without_attribute_words(claim)):
        word = _bare(raw)
        if (raw[:1].islower() and len(word) >= 3 and not word.isdigit()
                and word not in _NOT_CLAIMED and word not in out
                and not written_alike(word, question)):
            out.append(word)
    return out


def written_alike(name: str, text: str) -> bool:
    """`name` (lower case) is in `text` as it is, with another ending ("Ukrainer" for
    "Ukraine"), or spelled close ("al-Nimeiry" for "Nimeiry"). "Lawrow" for "Lavrov" is not:
    such pairs are left to the word vectors."""
    for word in {w.lower() for w in _WORD.findall(text)}:
        if word == name or (len(name) >= 5 and word[:5] == name[:5]):
            return True
        if SequenceMatcher(None, name, word).ratio() >= 0.8:
            return True
    return False


def best_cosines(
    names: Sequence[str], claim_words: WordVectors, window_words: Sequence[WordVectors],
) -> list[float]:
    """For each name, its best cosine with any window word: the name's own word vector (the
    claim's word starting like it) against every word there; 0 when the claim has no such
    word or the window no words."""
    out = []
    for name in names:
        rows = [k for k, w in enumerate(claim_words.words) if _bare(w).startswith(name[:4])]
        out.append(max((float((claim_words.vectors[rows] @ s.vectors.T).max())
                        for s in window_words if len(s) and rows), default=0.0))
    return out


def unstated_names(
    claim: str, question: str, window: str, window_sentences: Sequence[str],
    words: Callable[[Sequence[str]], list[WordVectors]], check: NameCheck,
) -> list[str]:
    """The names the claim adds to the question that the window (its supporting sentence, the
    neighbours and the headline) does not give, alike or by meaning, as the claim writes them;
    empty when it gives all. `words` gives word vectors at the check's layer (a cached
    `SupportScorer.passage_words`); it is called only for names not written alike, so most
    claims cost no encoder pass."""
    missing = [n for n in added_names(claim, question) if not written_alike(n, window)]
    if not missing:
        return []
    claim_words, *window_words = words([claim, *window_sentences])
    cosines = best_cosines(missing, claim_words, window_words)
    unmatched = [n for n, c in zip(missing, cosines, strict=True) if c < check.min_cosine]
    spelled = {_bare(m.group()): _bare_case(m.group()) for m in _CAPITALISED.finditer(claim)}
    return [spelled.get(n, n) for n in unmatched]


def unstated_words(
    claim: str, question: str, window: str, window_sentences: Sequence[str],
    words: Callable[[Sequence[str]], list[WordVectors]], check: NameCheck,
) -> list[str]:
    """The words the claim adds that the window matches neither alike nor by meaning, when
    they are more than `check.min_word_share` allows; else empty (as `unstated_names`, whose
    cosine and word vectors it shares)."""
    share = check.min_word_share
    if share is None:
        return []
    added = added_words(claim, question)

    def too_many(missing: list[str]) -> bool:
        return bool(missing) and 1 - len(missing) / len(added) < share

    missing = [w for w in added if not written_alike(w, window)]
    if not too_many(missing):  # decided without an encoder pass
        return []
    claim_words, *window_words = words([claim, *window_sentences])
    cosines = best_cosines(missing, claim_words, window_words)
    unmatched = [w for w, c in zip(missing, cosines, strict=True) if c < check.min_cosine]
    return unmatched if too_many(unmatched) else []


def describe(names: Sequence[str], words: Sequence[str]) -> str:
    """What no passage gives, for the reader: "no passage names April", "no passage has a
    word for painting", both joined by "; ", or ""."""
    parts = [f"no passage names {', '.join(names)}" if names else "",
             f"no passage has a word for {', '.join(words)}" if words else ""]
    return "; ".join(p for p in parts if p)
