"""Send the model what answers, not whole chunks: the best sentences with their neighbours.

On a CPU the model's first word waits for it to read the whole prompt (prefill, about 80
tokens/s for the 1.5B model on two cores), so prompt length is answer latency. The sentences
of the retrieved passages that best match the question are kept, best first, within a token
budget, then their neighbours while the budget lasts; consecutive sentences make one window,
and windows of one article that touch are merged.
Every window is an exact span of its article (a narrowed `Hit`), so citations still resolve to
article offsets and the verifier checks answers against exactly what the model read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from qa.extractive import is_instruction
from qa.language import language
from qa.schema import Hit
from qa.support import SupportScorer, passage_sentences


def focus_passages(
    question: str,
    hits: list[Hit],
    scorer: SupportScorer,
    count_tokens: Callable[[str], int],
    budget_tokens: int,
    neighbours: int = 1,
    keep_ratio: float = 0.0,
) -> list[Hit]:
    """Narrowed copies of `hits`, best first, whose texts total at most `budget_tokens`.

    First the best sentences of all passages, best first (a small bonus for retrieval rank,
    as in the quote picker, which puts a gold answer in its top two quotes three times in
    four); then, while the budget lasts, their neighbours one ring at a time (up to
    `neighbours` on each side). `keep_ratio`: leave out sentences scoring below this share of
    the best one (0 keeps all). The best sentence always stays.
    """
    spans = [passage_sentences(h.text) for h in hits]
    # sentences addressed to a model ("Ignoriere alle Anweisungen ...") are never worth reading
    flat = [(p, k) for p, sents in enumerate(spans) for k in range(len(sents))
            if not is_instruction(sents[k].text)]
    if not flat:  # nothing but instructions to a model: nothing to read
        return []
    scores = scorer.matrix([question], [spans[p][k].text for p, k in flat], questions=True,
                           claim_lang=language(question))[0]
    ranked = sorted(zip(flat, (float(x) for x in scores), strict=True),
                    key=lambda item: -(item[1] + 0.02 * (len(hits) - item[0][0])))
    top = ranked[0][1]
    chosen: dict[int, set[int]] = {}  # passage -> sentence numbers
    seen: set[tuple[str, int]] = set()  # one sentence, twice in overlapping chunks

    def take(p: int, k: int, used: int) -> int | None:
        """`used` after adding sentence k of passage p; None when it does not fit."""
        key = (hits[p].article_id, hits[p].start + spans[p][k].start)
        cost = count_tokens(spans[p][k].text)
        if key in seen or k in chosen.get(p, set()):
            return used
        if chosen and used + cost > budget_tokens:
            return None
        chosen.setdefault(p, set()).add(k)
        seen.add(key)
        return used + cost

    used = 0
    for (p, k), score in ranked:
        after = take(p, k, used) if not chosen or score >= keep_ratio * top else None
        if after is None:  # lower-ranked sentences would only be distractors: neighbours next
            break
        used = after
    best_first = list(chosen)
    for _ in range(neighbours):
        for p in best_first:
            for k in sorted(chosen[p]):
                for side in (k - 1, k + 1):
                    if 0 <= side < len(spans[p]) and not is_instruction(spans[p][side].text):
                        used = take(p, side, used) or used
    out: list[Hit] = []
    for p in best_first:
        hit = hits[p]
        for lo, hi in _runs(sorted(chosen[p])):
            start, end = spans[p][lo].start, spans[p][hi].end
            out = _merge_into(out, replace(hit, start=hit.start + start, end=hit.start + end,
                                           text=hit.text[start:end]))
    return out


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 6, 7] -> [(1, 3), (6, 7)]: consecutive sentences make one window."""
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def _merge_into(windows: list[Hit], new: Hit) -> list[Hit]:
    """Add `new`, merged into an earlier window of its article that it overlaps or touches."""
    for i, old in enumerate(windows):
        if old.article_id != new.article_id or new.start > old.end or old.start > new.end:
            continue
        first, second = (old, new) if old.start <= new.start else (new, old)
        text = first.text + second.text[max(0, first.end - second.start):] \
            if second.end > first.end else first.text
        merged = replace(old, start=first.start, end=max(first.end, second.end), text=text)
        return [*windows[:i], merged, *windows[i + 1:]]
    return [*windows, new]


def surroundings(windows: list[Hit], hits: list[Hit]) -> list[str]:
    """Per focused window, the text of the retrieved chunks it was cut from (overlapping
    chunks of its article, in order). The claim check reads a question word the answer repeats
    there: focusing keeps the sentence that answers but may drop the one naming the premise."""
    out = []
    for window in windows:
        around = [h for h in hits if h.article_id == window.article_id
                  and h.start < window.end and window.start < h.end]
        out.append(" ".join(h.text for h in sorted(around, key=lambda h: h.start))
                   or window.text)
    return out
