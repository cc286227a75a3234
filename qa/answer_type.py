"""What kind of answer a question asks for, and whether a sentence holds one.

"Wann ...?" is answered by a date or a year, "Wie viele ...?" by a number, "Wer ...?" by a
name, "Wo ...?" by a place. A passage on the question's topic whose sentences closest to the
question hold no date (number) where one is asked for does not answer it, however close its
wording: the answer gate (`qa.gate`) uses that as one of its signals. The rules are few and
cheap (regular expressions, no model): they run before any model, on every question.
"""

from __future__ import annotations

import re
from typing import Literal

AnswerType = Literal["date", "number", "person", "place"]

# Longer phrases first: "seit wann" is a date, "wie viele" a number, before "wie" or "wer".
_RULES: tuple[tuple[str, AnswerType], ...] = (
    (r"\b(seit|bis|ab) wann\b|\bwann\b|\bin welche[mn]? (jahr|jahrhundert|monat|"
     r"jahrzehnt)|\bwelche[ms]? (jahr|datum|jahrhundert)\b|\ban welchem (tag|datum)\b|"
     r"\bzu welche[mr] (zeit|zeitpunkt)\b|\bwhen\b|\b(in )?(what|which) (year|century|"
     r"decade|month|date|day)\b", "date"),
    (r"\bwie ?viele?\b|\bwie (hoch|groß|lang|lange|alt|weit|schwer|oft|breit|tief|"
     r"schnell|teuer)\b|\bwelche[rn]? (anteil|prozentsatz|betrag|anzahl)\b|"
     r"\bhow (many|much|long|old|far|large|big|high|tall|often|wide|deep|fast)\b|"
     r"\bwhat (percentage|percent|proportion|amount|number)\b", "number"),
    (r"\b(wer|wem|wen|wessen)\b|\bwho(m|se)?\b", "person"),
    (r"\bwo(hin|her)?\b|\bin welche[mr]? (land|stadt|region|staat|ort|gegend|"
     r"bundesland|provinz|kontinent|teil)\b|\bwhere\b|\b(in|to) (what|which) (country|"
     r"city|region|state|town|place|continent|part)\b", "place"),
)
_QUESTION_TYPES = tuple((re.compile(p, re.IGNORECASE), kind) for p, kind in _RULES)


def expected_type(question: str, leading: bool = False) -> AnswerType | None:
    """The kind of answer the question word asks for, or None (what/why/how questions).

    `leading`: only a question word among the first two words counts. "What is it called
    when ..." and "How many seconds were left when ..." ask for no date: a "when" further in
    is a clause, not the question."""
    for pattern, kind in _QUESTION_TYPES:
        match = pattern.search(question)
        if match and (not leading or len(_WORD.findall(question[: match.start()])) <= 1):
            return kind
    return None


_MONTH = (r"januar|jänner|februar|märz|april|mai|juni|juli|august|september|oktober|november|"
          r"dezember|january|february|march|june|july|october|december")
_DATE = re.compile(
    rf"\b(1\d{{3}}|20\d{{2}})\b|\b\d{{1,2}}\.\s?(\d{{1,2}}\.|{_MONTH})|\b({_MONTH})\b|"
    r"\bjahrhundert|\bjahrhunderts\b|\bjahrzehnt|\bcentury\b|\b\d{2,4}er\b|"
    r"\b(montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|"
    r"gestern|heute|morgen|vorjahr|frühjahr|herbst|sommer|winter)\b|\bv\.\s?chr\b|\bn\.\s?chr\b|"
    # a year before 1000 only where something says it is one ("ca. 750", "im Jahr 882")
    r"(?:\bca\.|\bcirca|\bim jahre?|\banno|\bc\.)\s?\d{2,3}\b|"
    # a time counted back: "vor etwa 13.000 Jahren", "about 13,000 years ago"
    r"\bvor\s(?:\w+\s){0,2}?[\d.,]+\s(?:\w+\s)?(?:jahr|jahrzehnt|jahrhundert)|\byears?\sago\b|\d\s?BP\b",
    re.IGNORECASE)
_NUMBER = re.compile(
    r"\d+(?:[.,]\d+)*|\b(anderthalb|\w+einhalb|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|"
    r"zwanzig|dreißig|"
    r"hundert|tausend|dutzend|zweit|dritt|doppelt|hälfte|halb|viertel|einzige[nr]?|"
    r"millionen?|milliarden?|two|three|four|five|six|seven|eight|nine|ten|"
    r"hundred|thousand|million|billion|half|dozen)",
    re.IGNORECASE)
_WORD = re.compile(r"\w+")


def has_type(sentence: str, kind: AnswerType, question: str = "") -> bool:
    """Whether `sentence` holds a date or a number (as `kind` says) that the question does not
    already name: "Wie viele ... 2010?" is not answered by a sentence whose only number is
    its "2010". Names and places are not checked: in German every noun is capitalised, and
    on the bench a capitalised-word rule found a "name" in nearly every sentence."""
    if kind not in ("date", "number"):
        raise ValueError(f"only dates and numbers are checked, not {kind}")
    asked = set(_WORD.findall(question.lower()))
    pattern = _DATE if kind == "date" else _NUMBER
    return any(m.group().lower() not in asked for m in pattern.finditer(sentence))
