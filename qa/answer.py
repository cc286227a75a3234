"""The answer service: question (+ history) in, a checked, cited `Answer` out.

Steps: condense a follow-up into a standalone query, retrieve, refuse early when the
evidence is too thin, focus the passages on their best sentences (prompt length is the
embedded model's latency), wait for the model's turn (reporting the place in line), prompt
it, stream its tokens, then verify and repair every citation. The CLI, the chat and the
evaluation all go through `Answerer.stream`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from qa.citations import CitationVerifier, parse_markers, render, split_answer
from qa.claim_check import CLAIM_CHECK_FILE, makes_claim
from qa.context import focus_passages, surroundings
from qa.extractive import closest_quote, extract_answer, missing_figure, missing_office
from qa.fallback import DEFAULT_FALLBACK_FILE, load_fallback
from qa.gate import AnswerGate, Decision
from qa.llm.base import LLM, BackendError
from qa.llm.select import select_llm
from qa.llm.waitline import WaitLine
from qa.name_check import NAME_CHECK_FILE, describe
from qa.prompting import (
    REFUSAL,
    Prompt,
    build_prompt,
    condense_messages,
    heuristic_condense,
    language,
    system_prompt,
)
from qa.question_time import Period
from qa.retrieval import Filters, Retriever
from qa.schema import Answer, AnswerSentence, Hit, SearchScope
from qa.sentence_rerank import reranker_for
from qa.settings import Settings
from qa.support import SupportScorer


@dataclass
class AnswerEvent:
    """One step of an answer in progress: status text, the passages, a token, or the end."""

    kind: str  # "status" (which backend) | "progress" | "sources" | "token" | "done"
    text: str = ""
    hits: list[Hit] = field(default_factory=list)
    answer: Answer | None = None


@dataclass(frozen=True)
class _Turn:
    """What every answer to this question shares; builds the final `Answer`."""

    question: str
    query: str
    lang: str
    backend: str
    model: str

    def answer(
        self, sentences: list[AnswerSentence], sources: list[Hit], notice: str | None = None
    ) -> Answer:
        """An answer from `sentences`, or the refusal when there are none."""
        return Answer(
            question=self.question, text=render(sentences) if sentences else REFUSAL[self.lang],
            sentences=sentences, sources=sources, refused=not sentences, backend=self.backend,
            model=self.model, search_query=self.query, notice=notice,
        )


class Answerer:
    """Owns the retriever, the verifier and the chosen model; shared by CLI and chat."""

    def __init__(self, settings: Settings, retriever: Retriever | None = None) -> None:
        self.settings = settings
        self.retriever = retriever or Retriever(settings)
        self.line = WaitLine(settings.model_concurrency)
        self.scorer = SupportScorer(self.retriever.embedder, batch_threads=self._sentence_threads)
        self.verifier = CitationVerifier(self.scorer, settings.support_threshold,
                                         settings.claim_check_file or CLAIM_CHECK_FILE,
                                         settings.name_check_file or NAME_CHECK_FILE)
        self.gate = AnswerGate(settings, self.scorer)  # one sentence cache for gate and prompt
        self.reranker = reranker_for(settings, self.scorer)
        # read only where used: the fitted fallback is off by default (measured neutral)
        self.fallback = (load_fallback(settings.fallback_file or DEFAULT_FALLBACK_FILE,
                                       self.gate.fitted.fitted_at if self.gate.fitted else None)
                         if settings.on_unsupported == "fitted" else None)

    def _sentence_threads(self) -> int:
        """Torch threads for embedding new passage sentences: `sentence_threads` (unset: all
        cores) while no model is writing, else the query setting, so that neither slows the
        other on a small machine. Always explicit: torch keeps a thread count per chat worker
        thread, and one started while another embedded on all cores would keep that."""
        s = self.settings
        return (s.sentence_threads or os.cpu_count() or 1) if self.line.idle else s.torch_threads

    def warm(self, lang: str = "de") -> str:
        """Load the embedding model and the configured answer model, and have the model read
        its fixed instructions, so the first question is as fast as the rest. Returns the
        backend note (what will answer)."""
        _ = self.retriever.embedder.model
        llm, note = select_llm(self.settings, self.settings.llm)
        if llm is not None:
            llm.warm(system_prompt(lang))
        return note

    def ask(self, question: str, **kwargs: object) -> Answer:
        """Run `stream` to the end and return the final answer."""
        for event in self.stream(question, **kwargs):  # type: ignore[arg-type]
            if event.kind == "done" and event.answer is not None:
                return event.answer
        raise RuntimeError("answer stream ended without an answer")

    def stream(
        self,
        question: str,
        history: list[dict[str, str]] | None = None,
        filters: Filters | None = None,
        llm_choice: str | None = None,
        ollama_model: str | None = None,
        k: int | None = None,
        passages: list[Hit] | None = None,
    ) -> Iterator[AnswerEvent]:
        """Search, decide, answer and check, as events. `passages`: answer from these instead
        of searching (the refusal benchmark hands each question the passages it measures)."""
        question = question.strip()
        if not question:
            raise ValueError("The question is empty: type a question about the articles.")
        if len(question) > self.settings.max_question_chars:
            raise ValueError(
                f"The question is too long ({len(question):,} characters; at most "
                f"{self.settings.max_question_chars:,}). Ask it in fewer words: nothing was "
                "cut or sent.")
        started = time.perf_counter()
        settings = self.settings
        if ollama_model:
            settings = settings.model_copy(update={"ollama_model": ollama_model})
        llm, note = select_llm(settings, llm_choice or settings.llm)
        backend, model = (llm.name, llm.model) if llm else ("extractive", "quote-only")
        yield AnswerEvent("status", note)

        scope = self.retriever.scope(filters)
        if scope is not None and scope.searched_articles == 0:  # say so, not "not in them"
            yield AnswerEvent("sources", hits=[])
            empty = Answer(question=question, text=scope.empty_message(), sentences=[],
                           sources=[], refused=True, backend=backend, model=model,
                           search_query=question)
            yield self._done(empty, started, {}, scope)
            return
        _ = self.retriever.embedder.model  # load first: retrieval_s times the search alone
        query = question
        if history:
            query = self._condense(question, history,
                                   llm if settings.condense == "model" else None)
        t0 = time.perf_counter()
        period = None if passages is not None else self.retriever.question_period(query, filters)
        k = k or settings.context_passages
        hits = passages if passages is not None else self.retriever.search(
            query, self.reranker.fetch(k), filters, period=period)
        timings = {"retrieval_s": time.perf_counter() - t0}
        if query != question:
            timings["condense_s"] = t0 - started

        turn = _Turn(question, query, language(question), backend, model)
        t0 = time.perf_counter()
        decision = self.gate.decide(query, hits[:k])
        timings["gate_s"] = time.perf_counter() - t0
        if not decision.answerable:
            yield AnswerEvent("sources", hits=[])
            yield self._done(turn.answer([], []), started, timings, scope, period)
            return
        # after the gate, which was fitted on the hybrid order; its sentences are cached now
        t0 = time.perf_counter()
        hits = self.reranker.select(query, hits, k)
        timings["rerank_s"] = time.perf_counter() - t0

        if llm is None:
            yield AnswerEvent("sources", hits=hits)
            yield self._done(self._extractive(turn, hits), started, timings, scope, period)
            return

        t0 = time.perf_counter()
        prompt = self.prompt(question, hits, llm, focus_on=query)
        timings["prompt_s"] = time.perf_counter() - t0
        timings["prompt_tokens"] = float(prompt.tokens)
        if not prompt.hits:  # the passages held only instructions addressed to a model
            yield AnswerEvent("sources", hits=[])
            yield self._done(turn.answer([], hits), started, timings, scope, period)
            return
        yield AnswerEvent("sources", hits=prompt.hits)
        pieces: list[str] = []
        t_wait = time.perf_counter()
        with self.line.place() as place:
            while not place.wait(timeout=0.5):
                ahead = place.ahead
                yield AnswerEvent("progress", f"Queued: {ahead} answer{'s' * (ahead != 1)} "
                                  "ahead of yours…")
            timings["queued_s"] = time.perf_counter() - t_wait
            yield AnswerEvent("progress", f"Reading {len(prompt.hits)} passages…")
            try:
                t_gen = time.perf_counter()
                for piece in llm.stream_chat(prompt.messages, settings.max_answer_tokens,
                                             settings.temperature):
                    if not pieces:
                        timings["first_token_s"] = time.perf_counter() - started
                    pieces.append(piece)
                    yield AnswerEvent("token", piece)
                timings["generation_s"] = time.perf_counter() - t_gen
            except BackendError as exc:
                answer = self._extractive(turn, prompt.hits)
                answer.notice = f"{exc} Showing quoted passages instead."
                yield self._done(answer, started, timings, scope, period)
                return
        answer = self._verified("".join(pieces), turn, prompt.hits,
                                surroundings(prompt.hits, hits), decision)
        answer.model_text = "".join(pieces)
        yield self._done(answer, started, timings, scope, period)

    def prompt(
        self, question: str, hits: list[Hit], llm: LLM, focus_on: str | None = None
    ) -> Prompt:
        """What the model reads: the passages focused on `focus_on` (a follow-up's standalone
        query; default the question) unless turned off, numbered as the answer cites them."""
        s = self.settings
        if s.prompt_focus:
            hits = focus_passages(focus_on or question, hits, self.scorer, llm.count_tokens,
                                  s.prompt_budget_tokens, s.prompt_neighbours, s.prompt_keep_ratio)
        return build_prompt(question, hits, llm.count_tokens, llm.context_size(),
                            s.max_answer_tokens)

    def _condense(self, question: str, history: list[dict[str, str]], llm: LLM | None) -> str:
        """A standalone search query for a follow-up; heuristic if the model fails."""
        fallback = heuristic_condense(question, history)
        if llm is None:
            return fallback
        try:
            text = "".join(llm.stream_chat(condense_messages(question, history), 64, 0.0))
        except BackendError:
            return fallback
        text = text.strip().strip('"„“').splitlines()[0].strip() if text.strip() else ""
        if not text or len(text) > 3 * len(question) + 200:
            return fallback
        # keep the previous question's words too: small models drop names when rewriting
        return f"{text} {fallback}"

    def _verified(self, raw: str, turn: _Turn, hits: list[Hit],
                  scopes: list[str] | None = None, decision: Decision | None = None) -> Answer:
        parsed = split_answer(raw, len(hits))
        if _is_refusal(raw, REFUSAL[turn.lang]):
            return turn.answer([], hits)
        if not parsed:
            # Small models sometimes only point: "[2]". Quote what that passage says.
            _, cited = parse_markers(raw, len(hits))
            quotes = extract_answer(turn.question, hits, self.scorer, only=set(cited))
            if not cited or not quotes:
                return turn.answer([], hits)
            answer = self._extractive(turn, hits, quotes, after_model=True)
            if not answer.refused:
                answer.notice = "The model only cited passages; showing what they say."
            return answer
        sentences = self.verifier.verify(parsed, hits, turn.lang, turn.query, scopes)
        # only what a passage states is shown; sentences making no claim of their own
        # ("Laut den Artikeln:") go with the rest
        kept = [s for s in sentences if s.verified]
        left_out = [s for s in sentences if not s.verified and makes_claim(s.text)]
        if kept:
            answer = turn.answer(kept, hits)
            if left_out:
                n = len(left_out)
                answer.notice = (f"{n} sentence{'s' * (n != 1)} of the model's answer left out: "
                                 f"no passage states {'them' if n != 1 else 'it'}"
                                 f"{_unstated(left_out)}.")
            answer.left_out = left_out
            return answer
        notice = f"The model's answer was not supported by the passages{_unstated(left_out)}"
        doubtful = (self.settings.on_unsupported == "fitted" and self.fallback is not None
                    and decision is not None and self.fallback.refuses(decision))
        if doubtful:
            # the gate barely let the question through: a rejected answer then more often
            # means the articles do not hold it than that the model misworded it
            notice += ", and they answer the question too weakly to quote instead"
        elif self.settings.on_unsupported in ("extractive", "fitted"):
            # the sentence the model leaned on, else the best quotes for the question
            closest = closest_quote([s.text for s in left_out], hits, self.scorer,
                                    self.settings.support_threshold, turn.lang)
            quoted = self._extractive(turn, hits, closest or None, after_model=True)
            if not quoted.refused:
                quoted.notice = f"{notice}; showing quoted passages instead."
                quoted.left_out = left_out
                return quoted
            if quoted.notice:  # the quotes did not give what the question asks for
                notice += "; " + quoted.notice[:1].lower() + quoted.notice[1:-1]
        answer = turn.answer([], hits, notice=f"{notice}.")
        answer.left_out = left_out
        return answer

    def _extractive(
        self, turn: _Turn, hits: list[Hit], quotes: list[AnswerSentence] | None = None,
        after_model: bool = False,
    ) -> Answer:
        """Quotes as the answer: `quotes`, or the best ones for the question.

        `after_model`: they stand in for a model's answer that failed the check or only cited
        passages; then none are shown when the question asks for a date or a number and no
        quote gives one (`quote_type_check`: the model found nothing and the quotes are on the
        topic, not an answer: "Wie viele Menschen leben im Donbass?"). Quote-only mode does
        without: there it refused answerable questions whose answer sentence is worded apart
        from the question (README, "Gate and quotes together")."""
        if quotes is None:
            quotes = extract_answer(turn.question, hits, self.scorer)
        check = quotes and after_model and self.settings.quote_type_check
        missing = missing_figure(turn.question, quotes) if check else None
        if missing:
            return turn.answer([], hits, notice=f"The closest passages give no {missing} for "
                               "this; they are shown as related, not as an answer.")
        if check and missing_office(turn.question, quotes, hits):
            return turn.answer([], hits, notice="The closest passages do not name the office "
                               "asked about; they are shown as related, not as an answer.")
        answer = turn.answer(quotes, hits)
        quoted = {language(s.text) for s in answer.sentences}
        if quoted and turn.lang not in quoted:  # an English question, German quotes
            names = {"de": "German", "en": "English"}
            answer.notice = (
                "Quoted from the articles, in their language "
                f"({', '.join(names.get(x, x) for x in sorted(quoted))})."
            )
        return answer

    @staticmethod
    def _done(
        answer: Answer, started: float, timings: dict[str, float], scope: SearchScope | None,
        period: Period | None = None,
    ) -> AnswerEvent:
        answer.timings = {**timings, "total_s": time.perf_counter() - started}
        answer.scope = scope
        if period is not None:
            when = period.label(language(answer.question))
            answer.period_note = (f"Read from the question: {when}; passages from then "
                                  "ranked first, none left out.")
        return AnswerEvent("done", answer=answer)


def _unstated(left_out: list[AnswerSentence]) -> str:
    """" (no passage names April, Stoltenberg)" for sentences left out for what no passage
    gives (`qa.name_check`), so the reader sees what was wrong; else ""."""
    names = list(dict.fromkeys(n for s in left_out for n in s.unstated_names))
    words = list(dict.fromkeys(w for s in left_out for w in s.unstated_words))
    gap = describe(names, words)
    return f" ({gap})" if gap else ""


def _is_refusal(raw: str, refusal: str) -> bool:
    """The model used the fixed refusal sentence (possibly with a citation or quotes)."""
    core = refusal.rstrip(".").lower()
    return core in raw.lower() and len(raw) < len(refusal) * 2
