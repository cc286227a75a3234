#!/usr/bin/env python
"""Does time in the question help retrieval, and how should it be used? A measurement.

Questions like "Was forderte Lawrow im Dezember 2021?" name a period. This compares what can
be done with it (`qa/question_time.py`):

  (a) ignore it: the question as it is;
  (b) ignore it, but strip the phrase from the search query;
  (c) hard filter to the period, undated articles excluded (what `Filters(date_from,
      date_to)` does today; "+fb": search unfiltered when no dated article is in the period);
  (d) hard filter that keeps undated articles;
  (e) re-rank the unfiltered top `--depth` by period (`rerank_by_period`): weight, undated
      weight and a distance scale swept on one half of the bench questions (sha1(id) even),
      reported on the other half.

Data. One index (under --work, /tmp by default) of the five sample articles plus the
germanquad and xquad-de corpora (281 documents; `--with-news` adds news-de's 1,028 as
distractors). The bench documents state no publication date, so this script gives each a
**synthetic** one (deterministic from its file name, uniform over --date-from..--date-to),
written as a "Stand: dd.mm.yyyy" stamp line under the title of a copy, which indexing reads
like any real stamp (and removes from the text, so the words searched are unchanged);
--undated-share of them (20%) get no stamp, so what dropping undated articles costs is
measured. Each bench question (germanquad, xquad-de in German; xquad-en in English over the
German corpus) gets one time phrase (a month, a month without year, Anfang/Mitte/Ende, a day,
before/after a day, between two days), placed before the "?" or in front:
  - gold document dated: mostly a phrase whose period holds its date; --lagged-share (15%)
    of them get a period 2-60 days away from it, outside: questions about an event that the
    article reports later (or announces earlier). The sample set shows this is real: 5 of
    its 17 explicitly dated questions whose gold article is dated ask about a time that
    article was not published in;
  - gold document undated: a phrase about a random day of the range.
`data/time_questions.jsonl` (30 questions written over the sample articles, real dates; 9
have an undated gold article, 5 ask about a time other than their article's date, e.g. "am
7. Dezember 2021" of a report stamped 08.12.2021, 4 are anchored on an event: "nach dem
Videogipfel") is asked against the same index.

Why synthetic dates are still an honest test: the mechanism under test (parse the phrase,
then filter or re-rank by article dates) never looks at how a date was assigned, and every
variant sees the same dates and questions, so the differences between variants are real for
this mix. The limitation: bench dates are independent of topic. In real news one story runs
over weeks, so the passages that compete with the right one are mostly the same story on
other days (which a period separates: the sample set's in-period questions gain far more
than the bench's) but also same-day articles on it (which it cannot). And the mix of
consistent / outside / undated questions is an assumption: the mix table re-weighs the
per-subset figures for other shares.

Also reported: how often the parser finds a period in the plain (undated) bench questions
of germanquad, xquad-de, xquad-en and mlqa-de (false positives; a period no dated article
falls in cannot act through (c+fb), (d+fb) or (e)), and how often it recovers the generated
phrases exactly.

    flock /tmp/heavy.lock python scripts/bench_question_time.py
    flock /tmp/heavy.lock python scripts/bench_question_time.py --write-params
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa.question_time import (  # noqa: E402
    PARAMS_FILE,
    Period,
    event_day_from_store,
    question_period,
    reference_day,
    rerank_by_period,
    strip_period,
)

if TYPE_CHECKING:
    import numpy as np

    from qa.retrieval import Retriever
    from qa.schema import Hit
    from qa.store import IndexStore

CORPORA = ("germanquad", "xquad-de")
SETS = {"germanquad": "de", "xquad-de": "de", "xquad-en": "en"}
PLAIN_SETS = ("germanquad", "xquad-de", "xquad-en", "mlqa-de")
KINDS = ("month", "month_noyear", "part", "day", "before", "after", "between")
KIND_WEIGHTS = (25, 10, 15, 10, 12, 12, 16)
DE_MONTHS = ["", "Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
             "September", "Oktober", "November", "Dezember"]
EN_MONTHS = ["", "January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]
K_EVAL = 10


# --------------------------------------------------------------------------- arguments
def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    p.add_argument("--work", type=Path, default=Path("/tmp/qa-timebench"),
                   help="dated corpus copies and the index live here")
    p.add_argument("--questions", type=Path, default=REPO / "data" / "time_questions.jsonl")
    p.add_argument("--with-news", action="store_true", help="add news-de as dated distractors")
    p.add_argument("--undated-share", type=float, default=0.2)
    p.add_argument("--lagged-share", type=float, default=0.15)
    p.add_argument("--date-from", default="2021-07-01")
    p.add_argument("--date-to", default="2022-06-30")
    p.add_argument("--limit", type=int, default=0, help="first N questions per bench set")
    p.add_argument("--depth", type=int, default=50, help="hits re-ranked in variant (e)")
    p.add_argument("--weights", type=floats, default=[0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0])
    p.add_argument("--undated-weights", type=floats, default=[0.0, 0.25, 0.5, 1.0])
    p.add_argument("--scales", type=floats, default=[0.0, 7.0, 30.0],
                   help="days outside the period at which the full weight applies (0: at once)")
    p.add_argument("--check-n", type=int, default=60,
                   help="questions whose mirror search is compared with Retriever.search")
    p.add_argument("--out", type=Path, default=Path("/tmp/bench_question_time.json"))
    p.add_argument("--write-params", action="store_true",
                   help=f"store the picked re-rank setting and the tables in {PARAMS_FILE}")
    return p.parse_args(argv)


# --------------------------------------------------------------------------- corpus
def h(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest(), 16)


def synthetic_date(name: str, first: date, last: date, undated_share: float) -> date | None:
    """The deterministic publication date a bench document gets (None: left undated)."""
    if (h("undated:" + name) % 10_000) / 10_000 < undated_share:
        return None
    return first + timedelta(days=h("date:" + name) % ((last - first).days + 1))


def write_dated_copy(src: Path, dst: Path, day: date | None, has_title: bool) -> None:
    """A copy with a stamp line under the title (news-de has no title: first line)."""
    text = src.read_text(encoding="utf-8")
    if day is not None:
        stamp = f"Stand: {day.day:02d}.{day.month:02d}.{day.year} 12:00 Uhr"
        if has_title:
            title, _, rest = text.partition("\n")
            text = f"{title}\n\n{stamp}\n{rest}"
        else:
            text = f"{stamp}\n\n{text}"
    if not dst.exists() or dst.read_text(encoding="utf-8") != text:
        dst.write_text(text, encoding="utf-8")


def build_corpus(args: argparse.Namespace) -> tuple[list[Path], dict[str, date | None]]:
    first, last = date.fromisoformat(args.date_from), date.fromisoformat(args.date_to)
    dates: dict[str, date | None] = {}
    folders = [REPO / "data" / "articles"]
    groups: list[tuple[str, list[Path], bool]] = [
        ("corpus", [f for c in CORPORA for f in sorted((args.bench / c / "corpus").glob("*.txt"))],
         True)]
    if args.with_news:
        groups.append(("news", sorted((args.bench / "news-de" / "corpus").glob("*.txt")), False))
    for folder_name, files, has_title in groups:
        folder = args.work / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        for src in files:
            day = synthetic_date(src.name, first, last, args.undated_share)
            dates[src.name] = day
            write_dated_copy(src, folder / src.name, day, has_title)
        folders.append(folder)
    return folders, dates


# --------------------------------------------------------------------------- questions
@dataclass
class Case:
    id: str
    set: str  # germanquad / xquad-de / xquad-en / sample
    question: str
    docs: list[str]
    contexts: list[str]
    kind: str = ""  # phrase kind, or the sample's tags
    gold: str = ""  # in-period / lagged / undated
    expected: tuple[str | None, str | None] | None = None
    period: Period | None = None
    ranks: dict[str, int | None] = field(default_factory=dict)
    deep: dict[str, list[Hit]] = field(default_factory=dict)

    @property
    def pick(self) -> bool:
        return h(self.id) % 2 == 0


def fmt_day(day: date, lang: str) -> str:
    if lang == "de":
        return f"{day.day}. {DE_MONTHS[day.month]} {day.year}"
    return f"{EN_MONTHS[day.month]} {day.day}, {day.year}"


def make_phrase(kind: str, d: date, lang: str, rng: random.Random, reference: date
                ) -> tuple[str, date | None, date | None]:
    """A time phrase whose period holds `d`, and that period (start, end; None = open)."""
    de = lang == "de"
    month = DE_MONTHS[d.month] if de else EN_MONTHS[d.month]
    m_first = d.replace(day=1)
    m_last = (m_first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    if kind == "month":
        return (f"im {month} {d.year}" if de else f"in {month} {d.year}"), m_first, m_last
    if kind == "month_noyear":
        latest = reference.year if d.month <= reference.month else reference.year - 1
        if latest != d.year:  # the phrase would name another year's month
            return make_phrase("month", d, lang, rng, reference)
        return (f"im {month}" if de else f"in {month}"), m_first, m_last
    if kind == "part":
        part, lo, hi = ((0, 1, 10), (1, 11, 20), (2, 21, m_last.day))[min(2, (d.day - 1) // 10)]
        word = ("Anfang", "Mitte", "Ende")[part] if de else ("early", "mid", "late")[part]
        text = f"{word} {month} {d.year}" if de else f"in {word} {month} {d.year}"
        return text, d.replace(day=lo), d.replace(day=hi)
    if kind == "day":
        return (f"am {fmt_day(d, lang)}" if de else f"on {fmt_day(d, lang)}"), d, d
    if kind == "before":
        b = d + timedelta(days=rng.randint(1, 45))
        text = f"vor dem {fmt_day(b, lang)}" if de else f"before {fmt_day(b, lang)}"
        return text, None, b - timedelta(days=1)
    if kind == "after":
        a = d - timedelta(days=rng.randint(1, 45))
        text = f"nach dem {fmt_day(a, lang)}" if de else f"after {fmt_day(a, lang)}"
        return text, a + timedelta(days=1), None
    a = d - timedelta(days=rng.randint(0, 20))
    b = d + timedelta(days=rng.randint(1, 20))
    if de:
        if (a.year, a.month) == (b.year, b.month):
            text = f"zwischen dem {a.day}. und {fmt_day(b, lang)}"
        elif a.year == b.year:
            text = f"zwischen dem {a.day}. {DE_MONTHS[a.month]} und dem {fmt_day(b, lang)}"
        else:
            text = f"zwischen dem {fmt_day(a, lang)} und dem {fmt_day(b, lang)}"
    else:
        a_text = f"{EN_MONTHS[a.month]} {a.day}" + (f", {a.year}" if a.year != b.year else "")
        text = f"between {a_text} and {fmt_day(b, lang)}"
    return text, a, b


def place(question: str, phrase: str, rng: random.Random) -> str:
    """The phrase before the final "?" (most) or in front ("Im Mai 2022: Wer ...?")."""
    q = question.strip()
    if rng.random() < 0.7:
        return f"{q[:-1].rstrip()} {phrase}?" if q.endswith("?") else f"{q} {phrase}"
    return f"{phrase[0].upper()}{phrase[1:]}: {q}"


def dated_case(row: dict[str, Any], qset: str, gold_date: date | None, first: date,
               last: date, reference: date, lagged_share: float) -> Case:
    rng = random.Random(h("phrase:" + row["id"]))
    lang = SETS[qset]
    kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
    if gold_date is None:
        gold, anchor = "undated", first + timedelta(days=rng.randint(0, (last - first).days))
    elif rng.random() < lagged_share:
        gold = "lagged"
        anchor = gold_date + timedelta(days=rng.choice((-1, -1, 1)) * rng.randint(2, 60))
    else:
        gold, anchor = "in-period", gold_date
    for attempt in range(20):
        text, start, end = make_phrase(kind if attempt == 0 else rng.choice(KINDS), anchor,
                                       lang, rng, reference)
        inside = gold_date is not None and (start is None or start <= gold_date) and (
            end is None or gold_date <= end)
        if gold != "lagged" or not inside:
            break
    question = place(row["question"], text, rng)
    return Case(
        id=row["id"], set=qset, question=question, docs=[row["doc"]],
        contexts=[norm(row["context"])], kind=kind, gold=gold,
        expected=(start.isoformat() if start else None, end.isoformat() if end else None),
    )


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def sample_cases(path: Path, dates: dict[str, str | None]) -> list[Case]:
    cases = []
    for row in load_jsonl(path):
        docs = row["doc"] if isinstance(row["doc"], list) else [row["doc"]]
        contexts = row["context"] if isinstance(row["context"], list) else [row["context"]]
        p = row.get("period")
        cases.append(Case(
            id=row["id"], set="sample", question=row["question"], docs=docs,
            contexts=[norm(c) for c in contexts], kind=",".join(row.get("tags", [])),
            gold=_sample_gold(docs, dates, p),
            expected=(p["start"], p["end"]) if p else None,
        ))
    return cases


def _sample_gold(docs: list[str], dates: dict[str, str | None], p: dict[str, Any] | None
                 ) -> str:
    if p is None:
        return "event anchor"
    period = Period(p["start"], p["end"], "")
    inside = [period.contains(dates.get(d)) for d in docs]
    if any(x is True for x in inside):
        return "in-period"
    return "undated" if all(x is None for x in inside) else "lagged"


# --------------------------------------------------------------------------- scoring
# the bench retrieval measurement judges a hit the same way
from scripts.bench_retrieval import norm, overlaps  # noqa: E402


def first_rank(hits: Iterable[Hit], case: Case, k: int = K_EVAL) -> int | None:
    for rank, hit in enumerate(list(hits)[:k], start=1):
        name = Path(hit.path).name
        text = norm(hit.text)
        if any(name == d and overlaps(text, c)
               for d, c in zip(case.docs, case.contexts, strict=True)):
            return rank
    return None


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    hit = [r for r in ranks if r is not None]
    return {
        "n": n,
        "r@1": sum(r <= 1 for r in hit) / n if n else 0.0,
        "r@5": sum(r <= 5 for r in hit) / n if n else 0.0,
        "mrr@10": sum(1 / r for r in hit if r <= 10) / n if n else 0.0,
    }


# --------------------------------------------------------------------------- search mirror
class Searcher:
    """`Retriever.search` with a precomputed query vector and any allowed chunk-id set.

    The same steps as the product (dense candidates with an id selector, BM25 with the same
    allowed set, cross-lingual check, weighted RRF, near-duplicate collapse), so one query
    embedding serves every variant; `check` confirms it against `Retriever.search`.
    """

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self.store: IndexStore = retriever.store
        self._dated: dict[tuple[str | None, str | None], set[int]] = {}
        self.undated = {r[0] for r in self.store.db.execute(
            "SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id"
            " WHERE a.date IS NULL OR a.date = ''")}

    def dated(self, period: Period) -> set[int]:
        key = (period.start, period.end)
        if key not in self._dated:
            self._dated[key] = self.store.chunk_ids_where(None, period.start, period.end)
        return self._dated[key]

    def search(self, query: str, vector: np.ndarray, k: int, allowed: set[int] | None
               ) -> list[Hit]:

        from qa.retrieval import _hit, collapse_near_duplicates, is_cross_lingual
        from qa.search_backend import LocalSearch

        if allowed is not None and not allowed:
            return []
        store, settings = self.store, self.retriever.settings
        n = max(settings.candidates, k * 3)
        local = store.search
        assert isinstance(local, LocalSearch), "this bench measures the local index"
        dense = local.dense_index.search(vector, n, allowed, settings.ann_nprobe)
        lexical = local.bm25.search(query, n, allowed)
        cross = is_cross_lingual(
            query, [r.text for r in store.chunk_rows([c for c, _ in dense[:3]]).values()])
        fused = self.retriever._fuse(dense, lexical, "hybrid", cross)
        rows = store.chunk_rows([cid for cid, _ in fused[:n]])
        hits = [_hit(rows[cid], score, dense, lexical) for cid, score in fused[:n]
                if cid in rows]
        return collapse_near_duplicates(hits, k)


# --------------------------------------------------------------------------- variants
BASE_VARIANTS = ("a", "b", "c", "c+fb", "d", "d+fb")
NAMES = {
    "a": "(a) ignore time",
    "b": "(b) ignore time, phrase stripped",
    "c": "(c) filter, undated excluded",
    "c+fb": "(c+fb) filter, undated excluded, unfiltered if none in period",
    "d": "(d) filter keeping undated",
    "d+fb": "(d+fb) filter keeping undated, unfiltered if none in period",
    "e": "(e) re-rank",
}


def run_case(searcher: Searcher, embedder: Any, case: Case, depth: int) -> None:
    """Ranks of the gold passage for (a)-(d) with both queries, and the deep lists for (e)."""
    p = case.period
    stripped = strip_period(case.question, p) if p else case.question
    queries = {"asis": case.question, "strip": stripped}
    vectors = {"asis": embedder.encode_query(case.question)}
    vectors["strip"] = (vectors["asis"] if stripped == case.question
                        else embedder.encode_query(stripped))
    for q, text in queries.items():
        plain = searcher.search(text, vectors[q], K_EVAL, None)
        case.ranks[f"plain/{q}"] = first_rank(plain, case)
        case.deep[q] = searcher.search(text, vectors[q], depth, None)
        if p is None:
            for v in ("c", "c+fb", "d", "d+fb"):
                case.ranks[f"{v}/{q}"] = case.ranks[f"plain/{q}"]
            continue
        dated = searcher.dated(p)
        c_hits = searcher.search(text, vectors[q], K_EVAL, dated)
        d_hits = searcher.search(text, vectors[q], K_EVAL, dated | searcher.undated)
        case.ranks[f"c/{q}"] = first_rank(c_hits, case)
        case.ranks[f"d/{q}"] = first_rank(d_hits, case)
        fallback = case.ranks[f"plain/{q}"] if not dated else None
        case.ranks[f"c+fb/{q}"] = fallback if not dated else case.ranks[f"c/{q}"]
        case.ranks[f"d+fb/{q}"] = fallback if not dated else case.ranks[f"d/{q}"]


def rerank_rank(case: Case, q: str, weight: float, undated: float, scale: float) -> int | None:
    if case.period is None:
        return case.ranks[f"plain/{q}"]
    hits = rerank_by_period(case.deep[q], case.period, weight, undated, scale)
    return first_rank(hits, case)


def variant_rank(case: Case, variant: str, q: str, setting: tuple[float, float, float]
                 ) -> int | None:
    if variant == "a":
        return case.ranks["plain/asis"]
    if variant == "b":
        return case.ranks["plain/strip"]
    if variant == "e":
        return rerank_rank(case, q, *setting)
    return case.ranks[f"{variant}/{q}"]


# --------------------------------------------------------------------------- main
def table(header: list[str], rows: list[list[object]]) -> str:
    from qa.evaluation.report import md_table

    return md_table(header, rows, digits=3)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.bench = args.bench.expanduser().resolve()
    missing = [c for c in (*CORPORA, *SETS) if not (args.bench / c).is_dir()]
    if missing:
        print(f"Bench data not found under {args.bench} (missing {missing}); nothing to "
              "measure.", file=sys.stderr)
        return 0
    started = time.perf_counter()
    from qa.embedding import Embedder
    from qa.indexing import build_index
    from qa.retrieval import Filters, Retriever
    from qa.settings import Settings

    folders, synthetic = build_corpus(args)
    tag = "-news" if args.with_news else ""
    settings = Settings(index_dir=args.work / f"index{tag}", articles_dir=REPO / "data/articles")
    embedder = Embedder(settings)
    last_report = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        if time.monotonic() - last_report[0] > 20 or done == total:
            last_report[0] = time.monotonic()
            print(f"  [{stage}] {done}/{total}", file=sys.stderr, flush=True)

    report = build_index(settings, folders, embedder=embedder, progress=progress)
    print(f"Index {settings.index_dir}: {report.articles_total} articles, "
          f"{report.chunks_total} chunks ({report.timings.get('total_s', 0):.0f} s)",
          file=sys.stderr)
    retriever = Retriever(settings, embedder)
    store = retriever.store
    searcher = Searcher(retriever)

    # the dates the index actually holds (the stamps must have been read back exactly)
    indexed = {Path(a["path"]).name: a["date"] for a in store.articles()}
    wrong = [n for n, d in synthetic.items() if indexed.get(n) != (d.isoformat() if d else None)]
    if wrong:
        print(f"WARNING: {len(wrong)} bench documents indexed with another date than given, "
              f"e.g. {wrong[:3]}", file=sys.stderr)
    reference = reference_day(indexed.values())
    assert reference is not None, "no dated article in the index"
    event_day = event_day_from_store(store)
    first, last = date.fromisoformat(args.date_from), date.fromisoformat(args.date_to)

    # ---- questions
    cases: list[Case] = []
    skipped_own_time = 0
    for qset in SETS:
        rows = load_jsonl(args.bench / qset / "questions.jsonl")
        rows = rows[: args.limit] if args.limit else rows
        for row in rows:
            if question_period(row["question"], reference, event_day) is not None:
                skipped_own_time += 1  # already names a time: not a clean dated question
                continue
            cases.append(dated_case(row, qset, synthetic.get(row["doc"]), first, last,
                                    reference, args.lagged_share))
    sample = sample_cases(args.questions, indexed)
    parsed_ok = 0
    for case in cases + sample:
        case.period = question_period(case.question, reference, event_day)
        got = (case.period.start, case.period.end) if case.period else None
        parsed_ok += case.set != "sample" and got == case.expected
    bench = [c for c in cases if c.set != "sample"]

    # ---- false positives on the plain questions
    plain_found: list[tuple[str, str, Period, bool]] = []
    plain_n = 0
    for qset in PLAIN_SETS:
        path = args.bench / qset / "questions.jsonl"
        if not path.is_file():
            continue
        for row in load_jsonl(path):
            plain_n += 1
            period = question_period(row["question"], reference, event_day)
            if period is not None:
                plain_found.append((qset, row["question"], period, bool(searcher.dated(period))))

    # ---- searches
    t0 = time.perf_counter()
    for i, case in enumerate(cases + sample):
        run_case(searcher, embedder, case, args.depth)
        if i % 250 == 0:
            print(f"  searched {i}/{len(cases) + len(sample)}", file=sys.stderr, flush=True)
    t_search = time.perf_counter() - t0

    # ---- mirror check against Retriever.search
    agree = total = 0
    for case in (cases[:: max(1, len(cases) // max(1, args.check_n))][: args.check_n]
                 + sample):
        vec = embedder.encode_query(case.question)
        total += 2
        ours = searcher.search(case.question, vec, K_EVAL, None)
        theirs = retriever.search(case.question, k=K_EVAL)
        agree += [x.chunk_id for x in ours] == [x.chunk_id for x in theirs]
        p = case.period
        if p is None:
            agree += 1
            continue
        ours = searcher.search(case.question, vec, K_EVAL, searcher.dated(p))
        theirs = retriever.search(case.question, k=K_EVAL,
                                  filters=Filters(date_from=p.start, date_to=p.end))
        agree += [x.chunk_id for x in ours] == [x.chunk_id for x in theirs]

    # ---- pick: query (as is / stripped), then the re-rank setting, on the pick half
    pick = [c for c in bench if c.pick]
    held = [c for c in bench if not c.pick]
    mrr_a = metrics([c.ranks["plain/asis"] for c in pick])["mrr@10"]
    mrr_b = metrics([c.ranks["plain/strip"] for c in pick])["mrr@10"]
    q = "strip" if mrr_b >= mrr_a else "asis"
    grid = [(w, u, s) for w in args.weights for u in args.undated_weights for s in args.scales]
    sweep = []
    for setting in grid:
        sweep.append((metrics([rerank_rank(c, q, *setting) for c in pick])["mrr@10"], setting))
    best_mrr = max(m for m, _ in sweep)
    best = min((s for m, s in sweep if m >= best_mrr - 1e-12), key=lambda s: (s[0], s[1], -s[2]))

    all_variants = (*BASE_VARIANTS, "e")
    pick_mrr = {v: metrics([variant_rank(c, v, q, best) for c in pick])["mrr@10"]
                for v in all_variants}
    favoured = max(all_variants, key=lambda v: (round(pick_mrr[v], 6), v == "b"))

    def rows_for(name: str, subset: list[Case]) -> list[list[object]]:
        out: list[list[object]] = []
        for v in (*BASE_VARIANTS, "e"):
            m = metrics([variant_rank(c, v, q, best) for c in subset])
            label = NAMES[v] + (f" w={best[0]}, undated={best[1]}, scale={best[2]:g} d"
                                if v == "e" else "")
            out.append([name, label, int(m["n"]), m["r@1"], m["r@5"], m["mrr@10"]])
        return out

    subsets = [
        ("bench report half, all", held),
        ("… gold dated, in period", [c for c in held if c.gold == "in-period"]),
        ("… gold dated, outside the period", [c for c in held if c.gold == "lagged"]),
        ("… gold undated", [c for c in held if c.gold == "undated"]),
        ("sample (data/time_questions.jsonl)", sample),
        ("… sample, gold in period", [c for c in sample if c.gold == "in-period"]),
        ("… sample, gold outside the period", [c for c in sample if c.gold == "lagged"]),
        ("… sample, gold undated", [c for c in sample if c.gold == "undated"]),
        ("… sample, event anchor", [c for c in sample if c.gold == "event anchor"]),
    ]
    main_rows = [row for name, subset in subsets if subset for row in rows_for(name, subset)]

    # ---- print
    n_docs = len(synthetic)
    n_undated = sum(1 for d in synthetic.values() if d is None)
    print(f"\n## Time in the question: retrieval by variant (index {report.articles_total} "
          f"articles, {report.chunks_total} chunks: 5 sample + {n_docs} bench documents, "
          f"{n_undated} of them left undated; synthetic dates {args.date_from}..{args.date_to};"
          f" reference {reference}; k={K_EVAL}, re-rank depth {args.depth})\n")
    print(f"Query for (c)-(e): {'phrase stripped' if q == 'strip' else 'as is'} (pick half "
          f"MRR@10 as is {mrr_a:.3f}, stripped {mrr_b:.3f}). Re-rank setting picked on the pick "
          f"half (n={len(pick)}): weight {best[0]}, undated weight {best[1]}, scale "
          f"{best[2]:g} days (MRR@10 {best_mrr:.3f}).\n")
    print(table(["set", "variant", "n", "R@1", "R@5", "MRR@10"], main_rows))

    print(f"\nVariant with the best pick-half MRR@10: {NAMES[favoured]} ("
          + ", ".join(f"{v} {m:.3f}" for v, m in pick_mrr.items()) + ")")

    paired_rows: list[list[object]] = []
    for name, subset in (("bench report half", held), ("sample", sample)):
        for v, base in (("e", "b"), ("d+fb", "b"), ("b", "a"), ("e", "a")):
            for metric in ("mrr@10", "r@5"):
                d = paired([variant_rank(c, v, q, best) for c in subset],
                           [variant_rank(c, base, q, best) for c in subset], metric)
                paired_rows.append([name, f"({v}) - ({base})", metric, d["wins"], d["losses"],
                                    d["diff"], f"[{d['lo']:+.3f}, {d['hi']:+.3f}]"])
    print("\n### Paired differences (per question; 95% bootstrap interval)\n")
    print(table(["set", "variants", "metric", "better", "worse", "diff", "95% CI"],
                paired_rows))

    shares = {g: [c for c in held if c.gold == g] for g in ("in-period", "lagged", "undated")}
    sub_mrr = {g: {v: metrics([variant_rank(c, v, q, best) for c in cs])["mrr@10"]
                   for v in all_variants} for g, cs in shares.items()}
    mix_rows: list[list[object]] = []
    for undated_share in (0.0, 0.2, 0.35):
        for lagged in (0.0, 0.15, 0.3, 0.5):
            mix = {"in-period": (1 - undated_share) * (1 - lagged),
                   "lagged": (1 - undated_share) * lagged, "undated": undated_share}
            mrr = {v: sum(mix[g] * sub_mrr[g][v] for g in mix) for v in all_variants}
            mix_rows.append([f"{undated_share:.0%}", f"{lagged:.0%}"]
                            + [mrr[v] for v in ("a", "b", "c", "d+fb", "e")])
    print("\n### MRR@10 for other mixes (bench report half's subsets re-weighted; gold undated"
          " share x share of dated questions asking about a time outside their article's"
          " date)\n")
    print(table(["gold undated", "dated, outside", "(a)", "(b)", "(c)", "(d+fb)", "(e)"],
                mix_rows))

    kind_rows: list[list[object]] = []
    for kind in KINDS:
        sub = [c for c in held if c.kind == kind]
        if sub:
            kind_rows.append([kind, len(sub)] + [
                metrics([variant_rank(c, v, q, best) for c in sub])["mrr@10"]
                for v in ("a", "b", "c", "d+fb", "e")])
    print("\n### MRR@10 by phrase kind (bench report half)\n")
    print(table(["kind", "n", "(a)", "(b)", "(c)", "(d+fb)", "(e)"], kind_rows))

    print("\n### Re-rank sweep (pick half, MRR@10; weight x undated weight x scale days)\n")
    sweep_rows: list[list[object]] = [[w, u, f"{s:g}", m] for m, (w, u, s) in sweep]
    print(table(["weight", "undated weight", "scale", "MRR@10"], sweep_rows))

    print("\n### Sample questions: rank of the gold passage per variant (- = not in top 10)\n")
    rank_rows: list[list[object]] = []
    for c in sample:
        label = (c.period.label() if c.period else "none") + (
            f" [{c.period.anchor}]" if c.period and c.period.anchor else "")
        ranks = [_r(variant_rank(c, v, q, best)) for v in ("a", "b", "c", "d", "d+fb", "e")]
        rank_rows.append([c.id, c.gold, label, *ranks])
    print(table(["id", "gold", "period found", "(a)", "(b)", "(c)", "(d)", "(d+fb)", "(e)"],
                rank_rows))

    acting = sum(1 for *_, acts in plain_found if acts)
    print(f"\nParser on the generated bench phrases: {parsed_ok}/{len(bench)} periods exactly "
          f"as generated ({skipped_own_time} bench questions that already name a time left "
          "out).")
    print(f"False positives: a period found in {len(plain_found)}/{plain_n} plain bench "
          f"questions ({len(plain_found) / max(1, plain_n):.1%}); {acting} of them overlap a "
          "dated article of this index (the others cannot act with fallback / re-rank):")
    for qset, text, period, acts in plain_found[:40]:
        print(f"  {qset}: {text}  ->  {period.text!r} = {period.label()}"
              f"{'' if acts else '  (no dated article)'}")
    print(f"\nMirror search vs Retriever.search: {agree}/{total} top-10 lists identical. "
          f"Searches {t_search:.0f} s; total {time.perf_counter() - started:.0f} s.")

    result = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "index": {"dir": str(settings.index_dir), "articles": report.articles_total,
                  "chunks": report.chunks_total, "bench_docs": n_docs, "undated": n_undated},
        "reference": reference.isoformat(),
        "query": q, "pick_mrr": {"asis": mrr_a, "strip": mrr_b},
        "rerank": {"weight": best[0], "undated_weight": best[1], "scale_days": best[2],
                   "pick_mrr@10": best_mrr},
        "sweep": [{"weight": w, "undated_weight": u, "scale_days": s, "mrr@10": m}
                  for m, (w, u, s) in sweep],
        "favoured_on_pick_half": favoured, "pick_half_mrr@10": pick_mrr,
        "paired": paired_rows, "mix": mix_rows,
        "table": [dict(zip(["set", "variant", "n", "r@1", "r@5", "mrr@10"], r, strict=True))
                  for r in main_rows],
        "parser": {"generated_exact": parsed_ok, "generated_n": len(bench),
                   "plain_found": len(plain_found), "plain_n": plain_n,
                   "plain_acting": acting,
                   "plain_examples": [[s, t, p.text] for s, t, p, _ in plain_found]},
        "mirror_identical": [agree, total],
        "sample_ranks": {c.id: {v: variant_rank(c, v, q, best)
                                for v in (*BASE_VARIANTS, "e")} for c in sample},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(f"Wrote {args.out}")
    if args.write_params:
        write_params(args, result)
    return 0


def paired(a: list[int | None], b: list[int | None], metric: str, boots: int = 2000
           ) -> dict[str, float]:
    """Per-question differences of a over b (MRR@10 or R@5), with a bootstrap 95% interval."""
    import numpy as np

    def score(r: int | None) -> float:
        if r is None:
            return 0.0
        return 1.0 / r if metric == "mrr@10" else float(r <= 5)

    delta = np.array([score(x) - score(y) for x, y in zip(a, b, strict=True)])
    if not len(delta):
        return {"wins": 0, "losses": 0, "diff": 0.0, "lo": 0.0, "hi": 0.0}
    idx = np.random.default_rng(0).integers(0, len(delta), (boots, len(delta)))
    lo, hi = np.quantile(delta[idx].mean(axis=1), [0.025, 0.975])
    return {"wins": int((delta > 1e-12).sum()), "losses": int((delta < -1e-12).sum()),
            "diff": float(delta.mean()), "lo": float(lo), "hi": float(hi)}


def _r(rank: int | None) -> str:
    return "-" if rank is None else str(rank)


def write_params(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """The picked re-rank setting with what produced it, for qa.question_time.load_params."""
    params = {
        "variant": result["favoured_on_pick_half"],
        "variant_note": "picked by pick-half MRR@10 among (a)-(e); see the paired differences "
                        "and the mix table in the command's output before relying on it",
        "query": result["query"],
        "rerank": {k: result["rerank"][k] for k in ("weight", "undated_weight", "scale_days")},
        "fitted": {
            "by": "scripts/bench_question_time.py",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python scripts/bench_question_time.py " + " ".join(sys.argv[1:]),
            "data": "5 sample articles + germanquad/xquad-de corpora with synthetic dates "
                    f"({args.date_from}..{args.date_to}, {args.undated_share:.0%} undated, "
                    f"{args.lagged_share:.0%} of dated questions outside their article's "
                    "date); questions of germanquad, xquad-de, xquad-en with a time phrase "
                    "added, and data/time_questions.jsonl",
            "pick": "bench questions with sha1(id) even; reported on the odd half",
            "index": result["index"],
            "embed_model": "packaged:multilingual-e5-small",
        },
        "report": result["table"],
        "paired": result["paired"],
    }
    PARAMS_FILE.write_text(json.dumps(params, indent=1, ensure_ascii=False) + "\n",
                           encoding="utf-8")
    print(f"Wrote {PARAMS_FILE}")


if __name__ == "__main__":
    sys.exit(main())
