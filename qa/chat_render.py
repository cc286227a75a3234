"""HTML for the chat: answers with citation chips, source cards, the article view.

Pure functions from `Answer`/`Hit`/`Article` to escaped HTML (and the API's JSON shape), so
the look can be tested without a server. Citation links carry `#qa-cite:<key>`; the page
script in qa/chat_ui.py turns a click on one into opening that article.
"""

from __future__ import annotations

import html
import itertools
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from qa.dating import date_label
from qa.language import language
from qa.relative_days import annotate_relative_days, resolve_relative_days
from qa.schema import Answer, Hit

_BACKEND_LABELS = {"ollama": "Ollama", "llamacpp": "embedded"}
_CITE = "#qa-cite:"


esc = html.escape
_ANCHOR = ' id="cited"'


def backend_label(answer: Answer) -> str:
    """"embedded · qwen2.5-coder-1.5b", "Ollama · qwen2.5:7b" or "quote-only"."""
    if answer.backend == "extractive":
        return "quote-only"
    return f"{_BACKEND_LABELS.get(answer.backend, answer.backend)} · {answer.model}"


def cite_key(number: int, hit: Hit, start: int | None = None, end: int | None = None) -> str:
    """What a chip carries: passage number, article, cited span and the chunk's span."""
    s, e = (start, end) if start is not None and end is not None else (hit.start, hit.start)
    return quote(f"{number}|{hit.article_id}|{s}|{e}|{hit.start}|{hit.end}", safe="|")


def _chip(number: int, key: str, title: str) -> str:
    return f'<a class="qa-chip" href="{_CITE}{key}" title="{esc(title)}">{number}</a>'


def render_answer(answer: Answer, note: str | None = None) -> str:
    """The checked answer as HTML: sentences with citation chips, marks, backend, notices."""
    parts = []
    if answer.refused or not answer.sentences:
        parts.append(f"<span>{esc(answer.text)}</span>")
    for sentence in answer.sentences:
        chips = "".join(
            _chip(c.number, cite_key(c.number, answer.sources[c.number - 1], c.start, c.end),
                  _chip_title(answer.sources[c.number - 1], c.quote))
            for c in sentence.citations if 0 < c.number <= len(answer.sources)
        )
        if sentence.verified:
            cited = [answer.sources[c.number - 1] for c in sentence.citations
                     if 0 < c.number <= len(answer.sources)]
            shown = with_days(sentence.text, cited[0].date if cited else None)
            parts.append(f"<span>{shown}</span>{chips}")
        else:
            parts.append(f'<span class="qa-unverified" title="not supported by the passages">'
                         f"{esc(sentence.text)}</span>{chips}")
    total = answer.timings.get("total_s")
    meta = backend_label(answer) + (f" · {total:.1f} s" if total is not None else "")
    out = f'<div class="qa-answer">{" ".join(parts)}</div><div class="qa-meta">{esc(meta)}</div>'
    if answer.scope is not None and answer.scope.searched_articles:
        out += f'<div class="qa-scope">{esc(answer.scope.describe())}</div>'
    if answer.period_note:
        out += f'<div class="qa-scope">{esc(answer.period_note)}</div>'
    for text in (note, answer.notice):
        if text:
            out += f'<div class="qa-notice">ℹ {esc(text)}</div>'
    return out


def with_days(text: str, published: str | None) -> str:
    """`text` escaped, each relative day ("am Donnerstag") followed by the calendar day it
    names in the article dated `published`: "am Donnerstag [2. Dezember 2021]"."""
    out, pos = [], 0
    for day in resolve_relative_days(text, published):
        out += [esc(text[pos:day.end]), " ",
                f'<span class="qa-when" title="resolved against the article\'s date '
                f'{esc(published or "")}">[{esc(day.label(language(text)))}]</span>']
        pos = day.end
    return "".join(out) + esc(text[pos:])


def render_streaming(text: str, status: str = "") -> str:
    """An answer in progress: escaped tokens and a cursor."""
    body = esc(text) + "▍" if text else f'<span class="qa-status">{esc(status)}</span>'
    return f'<div class="qa-answer">{body}</div>'


def render_error(message: str) -> str:
    return f'<div class="qa-error">⚠ {esc(message)}</div>'


def _meta_line(hit: Hit) -> str:
    """When (and where that was read), who, which file: "2021-12-08 (stamp) · tagesschau · …"."""
    when = date_label(hit.date, hit.date_origin)
    return " · ".join(x for x in (when, hit.source, Path(hit.path).name) if x)


def _hit_label(hit: Hit) -> str:
    """Title, date (and where it was read) and source: what a chip's tooltip says."""
    return f"{hit.title} · {date_label(hit.date, hit.date_origin)}" + (
        f" · {hit.source}" if hit.source else "")


def _chip_title(hit: Hit, quote: str) -> str:
    return f"{_hit_label(hit)}: {annotate_relative_days(quote, hit.date)}"


def render_sources(hits: list[Hit], answer: Answer | None = None) -> str:
    """Source cards: cited passages first (with their supporting sentence), then the rest."""
    if not hits:
        if answer is not None:
            return '<div class="qa-empty">No passage answers this question.</div>'
        return '<div class="qa-empty">Passages used for the answer appear here.</div>'
    quotes: dict[int, tuple[str, int, int]] = {}
    for sentence in answer.sentences if answer else []:
        for c in sentence.citations:
            quotes.setdefault(c.number, (c.quote, c.start, c.end))
    cited_spans = [(c.article_id, c.start, c.end)
                   for sentence in (answer.sentences if answer else []) for c in sentence.citations]
    numbered = list(enumerate(hits, start=1))
    numbered.sort(key=lambda item: (item[0] not in quotes, item[0]))
    cards = []
    for number, hit in numbered:
        cited = number in quotes
        if cited:
            text, start, end = quotes[number]
            key = cite_key(number, hit, start, end)
            body = f'<div class="qa-card-quote">{with_days(text, hit.date)}</div>'
        else:
            key = cite_key(number, hit)
            snippet = _snippet(hit, cited_spans)
            label = "" if answer is None else (
                "related, not an answer · " if answer.refused else "not cited · ")
            body = f'<div class="qa-card-snippet">{label}{esc(snippet)}</div>'
        cards.append(
            f'<div class="qa-card{" qa-cited" if cited else ""}">'
            f'<div class="qa-card-head">{_chip(number, key, _hit_label(hit))}'
            f'<span class="qa-card-title">{esc(hit.title)}</span></div>'
            f'<div class="qa-card-meta">{esc(_meta_line(hit))}</div>{body}'
            f'<a class="qa-open" href="{_CITE}{key}">Open article →</a></div>'
        )
    return "".join(cards)


def _snippet(hit: Hit, cited: list[tuple[str, int, int]], size: int = 220) -> str:
    """The start of an uncited passage, without the sentences already quoted on a cited card
    (an overlapping chunk would otherwise repeat them)."""
    text = hit.text
    spans = sorted((max(s, hit.start) - hit.start, min(e, hit.end) - hit.start)
                   for a, s, e in cited if a == hit.article_id and s < hit.end and e > hit.start)
    for s, e in reversed(spans):
        text = text[:s] + " … " + text[e:]
    text = " ".join(text.split()).strip(" …") or "…"
    return text[:size] + ("…" if len(text) > size else "")


def render_article(
    title: str, meta: str, text: str, mark: tuple[int, int], chunk: tuple[int, int], number: int
) -> str:
    """Full article text, the retrieved chunk shaded and the cited sentence in <mark>."""
    n = len(text)
    ms, me = (max(0, min(v, n)) for v in mark)
    cs, ce = (max(0, min(v, n)) for v in chunk)
    cuts = sorted({0, n, ms, me, cs, ce})
    pieces, anchored = [], False
    for a, b in itertools.pairwise(cuts):
        seg = esc(text[a:b])
        if ms <= a and b <= me and ms < me:
            seg = f"<mark{'' if anchored else _ANCHOR}>{seg}</mark>"
            anchored = True
        if cs <= a and b <= ce and cs < ce:
            anchor = "" if anchored or ms < me else _ANCHOR
            anchored = anchored or bool(anchor)
            seg = f'<span class="qa-chunk"{anchor}>{seg}</span>'
        pieces.append(seg)
    where = f"Passage [{number}] shaded" + (", cited sentence highlighted" if ms < me else "")
    return (
        f'<div class="qa-article"><h3>{esc(title)}</h3>'
        f'<div class="qa-article-meta">{esc(meta)} — {where}</div>'
        f'<div class="qa-article-body">{"".join(pieces)}</div></div>'
    )


ARTICLE_PLACEHOLDER = (
    '<div class="qa-empty">Click a citation chip or “Open article” to read the article '
    "with the cited sentence highlighted.</div>"
)


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The `/ask` API result: JSON-serialisable, stable keys."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "refused": answer.refused,
        "backend": answer.backend,
        "model": answer.model,
        "notice": answer.notice,
        "sentences": [
            {
                "text": s.text,
                "verified": s.verified,
                "citations": [
                    {"number": c.number, "article_id": c.article_id, "start": c.start,
                     "end": c.end, "quote": c.quote}
                    for c in s.citations
                ],
            }
            for s in answer.sentences
        ],
        "sources": [
            {"number": i, "title": h.title, "date": h.date, "date_origin": h.date_origin,
             "source": h.source,
             "article_id": h.article_id, "start": h.start, "end": h.end, "text": h.text}
            for i, h in enumerate(answer.sources, start=1)
        ],
        "timings": dict(answer.timings),
        "period": answer.period_note,
        "scope": None if answer.scope is None else {
            **asdict(answer.scope), "text": answer.scope.describe()},
    }
