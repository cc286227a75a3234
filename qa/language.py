"""Which language a text is in: German or English, the two the product answers in.

Cheap and deterministic (function words and umlauts), so it can run on every sentence the
support scorer compares; German when unsure, because the corpus is German news.
"""

from __future__ import annotations

import re

_GERMAN_HINTS = set(
    "der die das und ist nicht was wer wie wann wo warum welche welcher welches hat haben mit "
    "über für von den dem des ein eine einen einem einer eines zu zum zur im auf sich sie er "
    "es dazu sagte wurde wurden werden wird war waren sind nach bei aus durch gegen um als "
    "auch noch nur viele wieviel seine seiner ihre ihrer wieso weshalb wofür".split()
)
_ENGLISH_HINTS = set(
    "the and is what who how when where why which has have with about for from of to in on "
    "did does was were a an it said do be been are by that this whose whom after before "
    "during against between".split()
)


def language(text: str) -> str:
    """'de' or 'en', by function words and umlauts; German when unsure (the corpus is German)."""
    words = re.findall(r"[a-zäöüß]+", text.lower())
    de = sum(w in _GERMAN_HINTS for w in words) + 2 * len(re.findall(r"[äöüß]", text.lower()))
    en = sum(w in _ENGLISH_HINTS for w in words)
    return "en" if en > de else "de"
