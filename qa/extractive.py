"""Quote-only answers: the passage sentences that best answer the question, cited.

No language model, so it is instant and cannot say anything the articles do not; it is also
the fallback when no model can run or a model's answer has no supported sentence.
"""

from __future__ import annotations

import re

from qa.answer_type import AnswerType, expected_type, has_type
from qa.attribute_words import to_german
from qa.claim_check import ParsedClaim, PassageAttributes, Tokens, attributes_agree
from qa.language import language
from qa.schema import AnswerSentence, Citation, Hit
from qa.support import SentenceSpan, SupportScorer, content_stems, passage_sentences

# Sentences addressed to a language model, not to readers (prompt injection in an article):
# never quoted as an answer, whatever they share with the question.
_INSTRUCTION = re.compile(
    r"\b(?:ignorier\w*|vergiss)\b.{0,40}\b(?:anweisung|instruktion|regel|vorgab)"
    r"|\bignore\b.{0,40}\b(?:instruction|previous|above|rules)"
    r"|\b(?:antworte|schreibe|gib)\b.{0,40}\b(?:nur|stattdessen|ausschließlich)\b"
    r"|\b(?:answer|reply|respond|write)\b.{0,30}\b(?:only|instead)\b"
    r"|\b(?:system ?prompt|you are now|du bist jetzt)\b",
    re.I,
)


def is_instruction(sentence: str) -> bool:
    """True for text that tells a model what to do (e.g. "Ignoriere alle Anweisungen")."""
    return bool(_INSTRUCTION.search(sentence))

#: A quote must match at least this share of the question's content (after weighting).
MIN_RELEVANCE = 0.3


Candidate = tuple[int, Hit, SentenceSpan]


def _candidates(
    hits: list[Hit], only: set[int] | None = None, question: str = "", typed: bool = False,
) -> list[Candidate]:
    """Quotable sentences: (passage number, passage, span); none that is too short to say
    anything or addressed to a model. `typed`: a question whose leading word asks for a date
    or a number ("Wie viele Menschen leben im Donbass?") is answered only by a sentence that
    gives one (`qa.answer_type`). Off in the product: on the refusal benchmark it refused
    almost no more unanswerable questions (`scripts/bench_quotes.py`, README "Answer gate"),
    and on the sample articles it refused "Wie lange dauerte der Videogipfel?", whose answer
    sentence ("… gut zwei Stunden gesprochen") shares too few words with it to be quoted."""
    kind = expected_type(question, leading=True) if typed and question else None
    return [
        (n, hit, span)
        for n, hit in enumerate(hits, start=1)
        if only is None or n in only
        for span in passage_sentences(hit.text)
        if len(content_stems(span.text)) >= 3 and not is_instruction(span.text)
        and (kind not in ("date", "number") or has_type(span.text, kind, question))
    ]


def _quote(candidate: Candidate) -> AnswerSentence:
    n, hit, span = candidate
    citation = Citation(
        number=n, article_id=hit.article_id, chunk_id=hit.chunk_id,
        start=hit.start + span.start, end=hit.start + span.end, quote=span.text,
        support=1.0,  # a verbatim quote supports itself
    )
    return AnswerSentence(quoted(span.text), [citation], verified=True, support=1.0)


def extract_answer(
    question: str,
    hits: list[Hit],
    scorer: SupportScorer,
    max_sentences: int = 2,
    only: set[int] | None = None,
    typed: bool = False,
) -> list[AnswerSentence]:
    """Up to `max_sentences` quoted sentences, best first; empty when nothing is relevant.

    `only` restricts the quotes to these passage numbers (1-based), e.g. the ones a model
    pointed at without saying anything else; `typed`: see `_candidates`.
    """
    candidates = _candidates(hits, only, question, typed)
    if not candidates or not question.strip():
        return []
    scores = scorer.matrix([question], [span.text for _, _, span in candidates], questions=True,
                           claim_lang=language(question))[0]
    # earlier-ranked passages get a small bonus: retrieval already judged them relevant
    ranked = sorted(
        range(len(candidates)),
        key=lambda i: -(float(scores[i]) + 0.02 * (len(hits) - candidates[i][0])),
    )
    out: list[AnswerSentence] = []
    for i in ranked:
        if len(out) == max_sentences or float(scores[i]) < MIN_RELEVANCE:
            break
        _, hit, span = candidates[i]
        start = hit.start + span.start
        if any(c.article_id == hit.article_id and c.start == start
               for s in out for c in s.citations):
            continue  # the same sentence again, from an overlapping chunk
        out.append(_quote(candidates[i]))
    return out


def missing_figure(question: str, quotes: list[AnswerSentence]) -> AnswerType | None:
    """"date" or "number" when the question's leading word asks for one ("Wie viele Menschen
    leben im Donbass?") and no quote gives it: such quotes are on the topic, not an answer;
    else None. The quotes are chosen without this rule (`typed` would pick other sentences
    and miss answers worded apart from the question); only the verdict on them is added."""
    asked = expected_type(question, leading=True)
    if asked in ("date", "number") and not any(has_type(q.text, asked, question)
                                               for q in quotes):
        return asked
    return None


#: A question asking who holds an office: "Wer ist der …", "Wie heißt der …", "Who is the …".
_WHO_HOLDS = re.compile(r"^\s*(?:wer\s+(?:ist|war)|wie\s+(?:heißt|hieß|heisst)|who\s+(?:is|was)"
                        r"|what\s+is\s+the\s+name\s+of)\s+(?:der|die|the)\b", re.I)


def missing_office(question: str, quotes: list[AnswerSentence], hits: list[Hit]) -> bool:
    """True when the question asks who holds an office ("Wer ist der ukrainische
    Verteidigungsminister?", "Who is the Russian defence minister?") and no quote can show
    it: the quote's passage never names that office (or nationality), or the quote gives it
    differently ("der ukrainische Verteidigungsminister" for the russische). Such a quote may
    be close to what the model wrongly said ("Dieser sagte zu, Kiew werde Zurückhaltung
    üben"), but it cannot show who holds the office. Read as the claim check reads an English
    claim (`attributes_agree`, in either language). Only for these questions: where the office
    is the question's premise ("Was forderte der russische Außenminister?"), a quote naming
    the person alone answers, and on the sample set the rule then refused three answers whose
    quotes held the gold answer."""
    if not _WHO_HOLDS.match(question):
        return False
    asked = ParsedClaim.of(to_german(question))
    if not any(kind == "role" for kind, _ in asked.attributes):
        return False
    for quote in quotes:
        for c in quote.citations:
            hit = hits[c.number - 1]
            text = to_german(f"{hit.title} {hit.text}")
            # "Kreml-Sprecher" names the "Kremlsprecher"
            passage = PassageAttributes.of(f"{text} {text.replace('-', '')}")
            if attributes_agree(asked, Tokens.of(to_german(c.quote)), passage):
                return False
    return True


def closest_quote(
    claims: list[str], hits: list[Hit], scorer: SupportScorer, min_support: float,
    lang: str | None = None,
) -> list[AnswerSentence]:
    """The one passage sentence that comes closest to stating any of `claims`, quoted; empty
    when none is even related (support below `min_support`).

    For a model answer the claim check rejected: the model read the passages and mostly points
    at the right sentence, but words it added ("... laut AFP ...") fail the check. Quoting the
    sentence it leaned on holds the answer more often than the best quotes for the question,
    and cites the gold passage about twice as often (README, "Answers and citations").
    """
    candidates = _candidates(hits)
    if not claims or not candidates:
        return []
    support = scorer.matrix(claims, [span.text for _, _, span in candidates], claim_lang=lang)
    best = support.max(axis=0)
    i = int(best.argmax())
    return [_quote(candidates[i])] if float(best[i]) >= min_support else []


_QUOTE_MARK = re.compile(r"[„“”\"]")


def quoted(text: str) -> str:
    """`text` in German quotation marks, its own quotes turned into inner ones (‚…‘), so a
    quoted statement never reads „… „…““."""
    def inner(m: re.Match[str]) -> str:
        opening = m.start() == 0 or text[m.start() - 1] in " \t\n([–—-"
        return "‚" if opening else "‘"

    return f"„{_QUOTE_MARK.sub(inner, text)}“"
