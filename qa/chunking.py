"""German sentence splitting and token-budgeted chunking with exact character offsets.

Chunks are sized in the embedding model's own word pieces (German costs many pieces per
word, so counting words would overflow the model and silently truncate), and every chunk
records `start`/`end` such that `article_text[start:end] == chunk.text`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from qa.dating import MONTHS
from qa.schema import Chunk

# Abbreviations after which a period does not end a sentence (compared case-sensitively
# where capitalisation matters: "Nr." vs a sentence ending in "nr").
ABBREVIATIONS = {
    "Dr", "Prof", "Nr", "Hr", "Hrn", "Fr", "St", "Str", "Abs", "Art", "Bd", "Jh", "Jhd", "Mio",
    "Mrd", "Tsd", "ca", "bzw", "vgl", "usw", "etc", "ggf", "evtl", "inkl", "exkl", "zzgl", "sog",
    "z", "B", "u", "a", "o", "d", "h", "s", "v", "Chr", "geb", "gest", "Mr", "Mrs", "Ms", "Sen",
    "Gen", "Abg", "Min", "Tel", "Co", "Kap", "Bsp", "bspw", "max", "min", "gem", "lt", "zit",
    "Jan", "Feb", "Apr", "Aug", "Sept", "Sep", "Okt", "Nov", "Dez", "Mo", "Di", "Mi", "Do",
    "Sa", "So", "ehem", "insb", "Hg", "Hrsg", "Ltd", "Inc", "Corp", "Dipl", "Ing", "Mag", "jr",
}
# Words that start a new sentence after a number ("... im Jahr 2018. Die ...").
_SENTENCE_STARTERS = {
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "einer", "er", "sie", "es", "wir",
    "ich", "ihr", "man", "in", "im", "am", "an", "auf", "aus", "bei", "mit", "nach", "seit",
    "von", "vor", "zu", "zum", "zur", "dies", "diese", "dieser", "dieses", "doch", "aber", "und",
    "auch", "so", "damit", "dabei", "danach", "zudem", "außerdem", "zuvor", "bereits", "schon",
    "nun", "nur", "noch", "wie", "was", "wer", "wo", "als", "wenn", "während", "ob", "the", "a",
}

_CANDIDATE = re.compile(r"[.!?…]+[\"'“”„«»’)\]]*(?=\s)")
_CLOSERS = "\"'“”«»’)]"


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return (start, end) spans of the sentences in `text` (whitespace excluded).

    Paragraph breaks always end a sentence. Periods after abbreviations ("Dr.", "z. B."),
    initials ("Antony J. Blinken"), ordinals ("21. Januar", "am 7. Dezember") and inside
    numbers ("21.01.2022", "120.000") do not.
    """
    spans: list[tuple[int, int]] = []
    for para_start, para_end in _paragraph_spans(text):
        start = para_start
        quotes = _quote_spans(text, para_start, para_end)
        for match in _CANDIDATE.finditer(text, para_start, para_end):
            end = match.end()
            if any(q_open < match.start() and q_close >= end for q_open, q_close in quotes):
                continue  # inside a quotation: „Wir gehen. Morgen kommen wir.“ stays whole
            if _is_boundary(text, match.start(), end, para_end):
                spans.append(_trim(text, start, end))
                start = end
        if text[start:para_end].strip():
            spans.append(_trim(text, start, para_end))
    return [s for s in spans if s[1] > s[0]]


_OPENING_ONLY = "„«"
_AMBIGUOUS_QUOTES = "\"“”»"


def _quote_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(open, close) positions of the balanced double quotes in text[start:end].

    „ « always open; " “ ” » open when they follow a space or bracket and precede a non-space,
    else close („...“ in German, “...” in English-style copy). A quote that never closes in
    its paragraph is ignored, so a stray mark cannot glue the rest of a paragraph together.
    """
    spans: list[tuple[int, int]] = []
    stack: list[int] = []
    for i in range(start, end):
        ch = text[i]
        if ch not in _OPENING_ONLY and ch not in _AMBIGUOUS_QUOTES:
            continue
        before = text[i - 1] if i > start else " "
        after = text[i + 1] if i + 1 < end else " "
        opens = ch in _OPENING_ONLY or (
            (before.isspace() or before in "([–—-/") and not after.isspace()
        )
        if opens:
            stack.append(i)
        elif stack:
            spans.append((stack.pop(), i))
    return spans


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for match in re.finditer(r"\n\s*\n|\n", text):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(text)))
    return [s for s in spans if text[s[0]:s[1]].strip()]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _is_boundary(text: str, punct_start: int, end: int, para_end: int) -> bool:
    nxt = re.match(r"\s+(\S+)", text[end:para_end])
    if not nxt:
        return False  # end of paragraph: handled by the caller
    next_word = nxt.group(1)
    first = next_word.lstrip("\"'“”„«»‚(‘[-–")[:1]
    punct = text[punct_start:end].rstrip(_CLOSERS)
    if "." not in punct or punct != ".":
        # "!" "?" "…" or "..." end a sentence when what follows looks like a new one
        return bool(first) and (first.isupper() or first.isdigit() or next_word[0] in "„“\"«")
    if text[end - 1] in _CLOSERS:
        return bool(first) and (first.isupper() or first.isdigit() or next_word[0] in "„“\"«")
    word = re.search(r"(\S+)$", text[:punct_start])
    prev = word.group(1).lstrip("\"'“”„«»(‘[") if word else ""
    if not first or not (first.isupper() or first.isdigit() or next_word[0] in "„“\"«"):
        return False  # lower-case continuation: "z. B. der", "Nr. 5"
    if prev in ABBREVIATIONS or (len(prev) == 1 and prev.isalpha()):
        return False  # "Dr. Müller", "Antony J. Blinken", "z. B. Berlin"
    if re.fullmatch(r"\d{1,3}", prev):
        # "21. Januar" / "7. Dezember" / "3. Platz": an ordinal unless a sentence plainly starts
        stem = next_word.strip("\"'“”„«»,.;:").lower()
        return stem not in MONTHS and stem in _SENTENCE_STARTERS
    # "Ludwig XIV. König" is no boundary
    return not (re.fullmatch(r"[IVXLC]{1,5}", prev) and next_word[:1].isupper())


@dataclass(frozen=True)
class ChunkerConfig:
    max_tokens: int  # budget for title + passage in the embedding model's tokens
    overlap_sentences: int = 1


def chunk_article(
    article_id: str,
    title: str,
    text: str,
    count_tokens: Callable[[str], int],
    config: ChunkerConfig,
) -> list[Chunk]:
    """Pack whole sentences into chunks that fit the model once the title is prepended.

    Consecutive chunks share `overlap_sentences` sentences so an answer spanning a boundary
    is still found whole. A single sentence longer than the budget is cut at word gaps.
    """
    budget = max(16, config.max_tokens - count_tokens(title) - 2)
    units: list[tuple[int, int, int]] = []  # (start, end, tokens) of sentences or pieces
    for start, end in split_sentences(text):
        tokens = count_tokens(text[start:end])
        if tokens <= budget:
            units.append((start, end, tokens))
        else:
            units.extend(_split_long(text, start, end, budget, count_tokens))

    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j, used = i, 0
        while j < len(units) and (j == i or used + units[j][2] <= budget):
            used += units[j][2]
            j += 1
        start, end = units[i][0], units[j - 1][1]
        chunks.append(Chunk(article_id, len(chunks), start, end, text[start:end]))
        if j >= len(units):
            break
        # Repeat up to `overlap_sentences` sentences, but only as many as still leave room for
        # the next new one: otherwise the next chunk would only repeat this one's tail.
        nxt = max(i + 1, j - config.overlap_sentences)
        while nxt < j and sum(u[2] for u in units[nxt:j + 1]) > budget:
            nxt += 1
        i = nxt
    return chunks


def _split_long(
    text: str, start: int, end: int, budget: int, count_tokens: Callable[[str], int]
) -> list[tuple[int, int, int]]:
    """Cut an over-long sentence at whitespace into pieces within the budget."""
    pieces: list[tuple[int, int, int]] = []
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    i = 0
    while i < len(words):
        lo, hi = i + 1, len(words)
        # binary search for the most words that fit (token counts grow with length)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count_tokens(text[words[i][0]:words[mid - 1][1]]) <= budget:
                lo = mid
            else:
                hi = mid - 1
        s, e = words[i][0], words[lo - 1][1]
        pieces.append((s, e, count_tokens(text[s:e])))
        i = lo
    return pieces
