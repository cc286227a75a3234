"""Run a question set through retrieval (and, unless retrieval-only, the answer service).

For every case the runner records everything a report or a comparison may need: the top-k
retrieved chunks and the rank of the first one that is evidence for the gold context, the
answer text, whether it refused, each citation with two verdicts (the verifier's, and whether
the cited passage overlaps the gold context), the evidence score the refusal rule saw, and
the timings. One failing question is recorded with its error; the run goes on.

Retrieval metrics use the question as asked; a follow-up is prefixed with the previous user
turn (`heuristic_condense`, what the answer service does without a model), so retrieval
numbers do not depend on which language model condensed the query. The answer service is
called with the case's history and does its own condensing.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.evaluation.metrics import (
    RetrievedChunk,
    all_contexts_rank,
    chunk_hits,
    contains_answer,
    exact_match,
    first_hit_rank,
    token_f1,
)
from qa.evaluation.testset import TestCase

if TYPE_CHECKING:
    from qa.answer import Answerer
    from qa.embedding import Embedder
    from qa.indexing import IndexReport
    from qa.retrieval import Retriever
    from qa.schema import Answer, Hit
    from qa.sentence_rerank import SentenceReranker
    from qa.settings import Settings

__all__ = [
    "CitationRecord",
    "EvalRun",
    "QuestionResult",
    "RetrievedRecord",
    "SentenceRecord",
    "default_index_dir",
    "run_eval",
]


@dataclass
class RetrievedRecord:
    """One retrieved chunk, as ranked for the retrieval metrics."""

    rank: int
    doc: str  # file name of the article
    chunk_id: int
    start: int
    end: int
    score: float
    gold: bool  # from a gold doc and overlapping its gold context


@dataclass
class CitationRecord:
    """A citation of the answer, with both verdicts."""

    number: int  # [n]; sources[n - 1] is the passage
    doc: str
    chunk_id: int
    start: int
    end: int
    quote: str
    support: float
    verified: bool  # the verifier's verdict (a citation is only kept when it passed)
    gold: bool  # the cited passage overlaps the case's gold context


@dataclass
class SentenceRecord:
    text: str
    verified: bool
    repaired: bool
    support: float
    citations: list[CitationRecord] = field(default_factory=list)
    left_out: bool = False  # the model wrote it, no passage states it: not shown


@dataclass
class QuestionResult:
    """Everything recorded for one question; one line of results.jsonl."""

    id: str
    question: str
    tags: list[str]
    unanswerable: bool
    gold_answers: list[str]
    docs: list[str]
    contexts: list[str]
    history: list[dict[str, str]]
    search_query: str = ""
    retrieved: list[RetrievedRecord] = field(default_factory=list)
    rank: int | None = None  # first gold chunk, 1-based, within k
    all_contexts_rank: int | None = None  # every gold context hit (multi-doc)
    evidence: float | None = None  # the answer gate's score over the first context_passages hits
    gate_features: dict[str, float] = field(default_factory=dict)
    gate_refused: bool | None = None  # the gate judged the passages unable to answer
    answered: bool = False  # the answer service was called
    answer: str = ""
    model_text: str = ""  # the model's own words before the claim check
    refused: bool | None = None
    backend: str = ""
    model: str = ""
    notice: str | None = None
    answer_query: str = ""  # the query the answer service searched with
    sources: list[dict[str, Any]] = field(default_factory=list)
    sentences: list[SentenceRecord] = field(default_factory=list)
    contains: bool | None = None  # a gold answer occurs in the answer (answerable only)
    f1: float | None = None
    em: bool | None = None
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuestionResult:
        """The inverse of `to_dict` (for resuming from a checkpoint)."""
        data = dict(data)
        data["retrieved"] = [RetrievedRecord(**x) for x in data.get("retrieved", [])]
        data["sentences"] = [
            SentenceRecord(**{**x, "citations": [CitationRecord(**c) for c in x["citations"]]})
            for x in data.get("sentences", [])
        ]
        return cls(**data)

    @property
    def correct(self) -> bool | None:
        """Answerable: answered and a gold answer contained; unanswerable: refused."""
        if not self.answered or self.error:
            return None
        if self.unanswerable:
            return bool(self.refused)
        return bool(self.contains) and not self.refused


@dataclass
class EvalRun:
    """A finished run: its configuration and one `QuestionResult` per case."""

    results: list[QuestionResult]
    config: dict[str, Any]
    started_at: str
    wall_s: float
    index: dict[str, Any] = field(default_factory=dict)

    @property
    def retrieval_only(self) -> bool:
        return bool(self.config.get("retrieval_only"))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "corpus"


def default_index_dir(corpus: Path, runs_dir: Path = Path("runs")) -> Path:
    """Where `--corpus` gets indexed when no `--index-dir` is given.

    Inside the (git-ignored) runs folder, one index per corpus folder, reused and updated
    incrementally by later runs: `runs/.indexes/<name>-<hash of the absolute path>`.
    """
    resolved = corpus.expanduser().resolve()
    name = resolved.parent.name if resolved.name == "corpus" else resolved.name
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    return runs_dir / ".indexes" / f"{_slug(name)}-{digest}"


def _doc(hit: Hit) -> str:
    return Path(hit.path).name


def _gold(hit: Hit, case: TestCase) -> bool:
    if case.unanswerable or not (case.contexts or case.answers):
        return False
    return chunk_hits(RetrievedChunk(_doc(hit), hit.text), case)


def _record_answer(
    result: QuestionResult, answer: Answer, case: TestCase
) -> None:
    result.answered = True
    result.answer = answer.text
    result.model_text = answer.model_text
    result.refused = answer.refused
    result.backend, result.model = answer.backend, answer.model
    result.notice = answer.notice
    result.answer_query = answer.search_query
    result.timings.update({k: round(v, 4) for k, v in answer.timings.items()})
    gold = [_gold(h, case) for h in answer.sources]
    result.sources = [
        {"number": n, "doc": _doc(h), "chunk_id": h.chunk_id, "start": h.start, "end": h.end,
         "title": h.title, "gold": g}
        for n, (h, g) in enumerate(zip(answer.sources, gold, strict=True), start=1)
    ]
    for sentence in answer.sentences:
        citations = []
        for c in sentence.citations:
            ok = 1 <= c.number <= len(answer.sources)
            citations.append(CitationRecord(
                number=c.number, doc=_doc(answer.sources[c.number - 1]) if ok else "",
                chunk_id=c.chunk_id, start=c.start, end=c.end, quote=c.quote,
                support=round(c.support, 4),
                verified=sentence.verified,
                gold=gold[c.number - 1] if ok else False,
            ))
        result.sentences.append(SentenceRecord(
            sentence.text, sentence.verified, sentence.repaired, round(sentence.support, 4),
            citations,
        ))
    result.sentences += [SentenceRecord(s.text, False, False, round(s.support, 4), [], True)
                         for s in answer.left_out]
    if not case.unanswerable:
        text = "" if answer.refused else answer.text
        result.contains = contains_answer(text, case.answers)
        result.f1 = round(token_f1(_strip_markup(text), case.answers), 4)
        result.em = exact_match(_strip_markup(text), case.answers)


_MARKUP = re.compile(r"\s*\[\d+\]")


def _strip_markup(text: str) -> str:
    """Answer text without citation markers and quote marks, for F1 / exact match."""
    return _MARKUP.sub("", text).strip().strip("„“\"")


def _index_corpus(
    settings: Settings, corpus: Path, embedder: Embedder | None, progress: bool
) -> IndexReport:
    from qa.indexing import build_index

    callback = None
    if progress:
        print(f"Indexing {corpus} into {settings.index_dir} ...", file=sys.stderr)

        def callback(stage: str, done: int, total: int) -> None:
            if stage == "embed" and total:
                print(f"\r  embedding {done}/{total}", end="", file=sys.stderr, flush=True)
                if done >= total:
                    print(file=sys.stderr)

    return build_index(settings, [corpus], embedder=embedder, progress=callback)


def _evaluate_case(
    case: TestCase, retriever: Retriever, answerer: Answerer | None, k: int,
    llm_choice: str | None, settings: Settings, reranker: SentenceReranker,
) -> QuestionResult:
    """Retrieve (and answer) one case; an exception is recorded, never raised."""
    from qa.gate import AnswerGate
    from qa.prompting import heuristic_condense

    result = QuestionResult(
        id=case.id, question=case.question, tags=list(case.tags),
        unanswerable=case.unanswerable, gold_answers=list(case.answers),
        docs=list(case.docs), contexts=list(case.contexts), history=list(case.history),
    )
    try:
        query = heuristic_condense(case.question, case.history) if case.history \
            else case.question
        result.search_query = query
        if answerer is not None:
            # answered first, as a user's question is: the retrieval metrics below would
            # otherwise leave its query and passage-sentence vectors cached for it
            answer = answerer.ask(case.question, history=case.history or None,
                                  llm_choice=llm_choice)
            _record_answer(result, answer, case)
        t0 = time.perf_counter()
        # as the answer service searches: a period read from the question ranks first
        pool = max(k, reranker.fetch(settings.context_passages))
        hits = retriever.search(query, pool, period=retriever.question_period(query))
        result.timings["search_s"] = round(time.perf_counter() - t0, 5)
        decision = AnswerGate(settings).decide(query, hits[: settings.context_passages])
        result.evidence = round(decision.score, 4)
        result.gate_refused = not decision.answerable
        result.gate_features = {k: round(v, 4) for k, v in decision.features.items()}
        # ranks in the order `qa search` shows (after the gate, as in the service); the
        # first context_passages are the ones an answer reads, so R@5 is the answer's
        hits = reranker.reorder(query, hits, settings.context_passages)[:k]
        chunks = [RetrievedChunk(_doc(h), h.text) for h in hits]
        result.retrieved = [
            RetrievedRecord(rank, _doc(h), h.chunk_id, h.start, h.end, round(h.score, 6),
                            _gold(h, case))
            for rank, h in enumerate(hits, start=1)
        ]
        if not case.unanswerable:
            result.rank = first_hit_rank(chunks, case)
            if case.is_multi_doc:
                result.all_contexts_rank = all_contexts_rank(chunks, case)
    except Exception as exc:  # one bad question must not end the run
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def _load_checkpoint(path: Path | None) -> dict[str, QuestionResult]:
    if path is None or not Path(path).is_file():
        return {}
    out: dict[str, QuestionResult] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            result = QuestionResult.from_dict(json.loads(line))
        except (ValueError, TypeError, KeyError):
            continue  # a line cut off by the kill
        if not result.error:
            out[result.id] = result
    return out


def _running(results: list[QuestionResult]) -> dict[str, str]:
    """Progress-bar postfix: recall@5 so far, accuracy so far, errors."""
    answerable = [r for r in results if not r.unanswerable and not r.error]
    out = {}
    if answerable:
        hits = sum(1 for r in answerable if r.rank is not None and r.rank <= 5)
        out["r@5"] = f"{hits / len(answerable):.2f}"
    verdicts = [v for v in (r.correct for r in results) if v is not None]
    if verdicts:
        out["acc"] = f"{sum(verdicts) / len(verdicts):.2f}"
    errors = sum(1 for r in results if r.error)
    if errors:
        out["errors"] = str(errors)
    return out


def run_eval(
    settings: Settings,
    cases: list[TestCase],
    *,
    retrieval_only: bool = False,
    k: int = 10,
    llm_choice: str | None = None,
    corpus: Path | None = None,
    progress: bool = True,
    index_dir: Path | None = None,
    embedder: Embedder | None = None,
    meta: dict[str, Any] | None = None,
    checkpoint: Path | None = None,
) -> EvalRun:
    """Evaluate `cases`; see the module docstring for what is recorded.

    `corpus`: index this folder first (into `index_dir`, default `default_index_dir(corpus)`)
    and evaluate against it; otherwise the index in `index_dir` or `settings.index_dir`.
    `embedder`: share an already loaded model (tests). `meta` is copied into the config.
    `checkpoint`: a JSONL file each finished question is appended to; questions already in
    it (same id and question, no error) are reused, so a killed run can be resumed.
    """
    from tqdm import tqdm

    from qa.answer import Answerer
    from qa.retrieval import Retriever

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    started_at = datetime.now().astimezone()
    t_start = time.perf_counter()
    if corpus is not None:
        corpus = Path(corpus)
        if not corpus.exists():
            raise FileNotFoundError(f"No such corpus folder: {corpus}")
        index_dir = index_dir or default_index_dir(corpus)
    if index_dir is not None:
        settings = settings.model_copy(update={"index_dir": Path(index_dir)})

    index_info: dict[str, Any] = {"dir": str(settings.index_dir)}
    # one model load for indexing, search and support scoring
    retriever = Retriever(settings, embedder)
    if corpus is not None:
        report = _index_corpus(settings, corpus, retriever.embedder, progress)
        index_info["build"] = {"lines": report.lines(), "timings": report.timings}

    store = retriever.store  # fail now (missing index) rather than once per question
    index_info["articles"], index_info["chunks"] = store.counts()
    answerer: Answerer | None = None
    backend = model = ""
    if not retrieval_only:
        from qa.llm.select import select_llm

        answerer = Answerer(settings, retriever=retriever)
        llm, note = select_llm(settings, llm_choice or settings.llm)  # raises if unusable
        backend, model = (llm.name, llm.model) if llm else ("extractive", "quote-only")
        index_info["llm_note"] = note
        if llm is not None:  # as the chat does at start: the first question is not special
            from qa.prompting import system_prompt

            llm.warm(system_prompt("de"))
    _ = retriever.embedder.model  # load before the first timing
    from qa.sentence_rerank import reranker_for
    from qa.support import SupportScorer

    reranker = answerer.reranker if answerer is not None else reranker_for(
        settings, SupportScorer(retriever.embedder))

    done = _load_checkpoint(checkpoint)
    results: list[QuestionResult] = []
    resumed = 0
    interrupted = False
    bar = tqdm(cases, desc="Evaluating", unit="q", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    try:
        for case in bar:
            previous = done.get(case.id)
            if previous is not None and previous.question == case.question:
                results.append(previous)
                resumed += 1
                continue
            result = _evaluate_case(case, retriever, answerer, k, llm_choice, settings,
                                    reranker)
            results.append(result)
            if checkpoint is not None:
                with Path(checkpoint).open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
            bar.set_postfix(_running(results), refresh=False)
    except KeyboardInterrupt:  # keep what was measured; the report says it is partial
        interrupted = True
        print(f"\nInterrupted after {len(results)} questions; writing a partial report.",
              file=sys.stderr)
    finally:
        bar.close()

    config: dict[str, Any] = {
        "retrieval_only": retrieval_only,
        "k": k,
        "llm": None if retrieval_only else (llm_choice or settings.llm),
        "backend": backend or None,
        "model": model or None,
        "corpus": str(corpus) if corpus is not None else None,
        "n_cases": len(results),
        "interrupted": interrupted,
        "resumed": resumed,
        "settings": settings.model_dump(mode="json"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        **(meta or {}),
    }
    return EvalRun(
        results=results, config=config, started_at=started_at.isoformat(timespec="seconds"),
        wall_s=round(time.perf_counter() - t_start, 3), index=index_info,
    )
