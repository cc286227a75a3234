"""The chat: a Gradio Blocks app over the answer, index and store services.

Only presentation lives here. Answers, citations and sources come from `Answerer.stream`,
the corpus tab calls `CorpusDesk` (who may change what), the article view reads
`store.article`. The page uses system fonts and no external scripts, so it works offline; it
listens on localhost unless told otherwise, and behind sign-in when it has users.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import gradio as gr

from qa.accounts import Accounts
from qa.answer import Answerer
from qa.chat_render import (
    ARTICLE_PLACEHOLDER,
    answer_to_dict,
    esc,
    render_answer,
    render_article,
    render_error,
    render_sources,
    render_streaming,
)
from qa.corpus_desk import CorpusDesk, size_label
from qa.dating import date_label, parse_user_date
from qa.embedding import EmbeddingError
from qa.exposure import ExposureError, check_exposure, exposure_warning
from qa.indexing import build_index
from qa.llm.base import BackendError
from qa.malloc_arenas import cap_malloc_arenas
from qa.retrieval import Filters
from qa.settings import Settings
from qa.store import IndexMissingError, IndexStore, open_index

log = logging.getLogger(__name__)

#: Backend choices shown in the settings (label, value for `Answerer.stream(llm_choice=)`).
BACKENDS = [("auto", "auto"), ("Ollama", "ollama"), ("embedded", "llamacpp"),
            ("quote only", "extractive")]
_BACKEND_ALIASES = {
    "auto": "auto", "ollama": "ollama", "llamacpp": "llamacpp", "embedded": "llamacpp",
    "llama.cpp": "llamacpp", "extractive": "extractive", "quote only": "extractive",
    "quote-only": "extractive", "quote": "extractive",
}
EXAMPLES = [
    "Was fordert Lawrow?",
    "Wie lange dauerte der Videogipfel zwischen Biden und Putin?",
    "Was kündigte Blinken nach dem Treffen in Genf an?",
]
UPLOAD_TYPES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
_USER_ERRORS = (IndexMissingError, EmbeddingError, BackendError, FileNotFoundError, ValueError)
_ALL_SOURCES = "all sources"

CSS = """
.qa-answer { line-height: 1.6; }
a.qa-chip { display: inline-block; min-width: 1.5em; padding: 0 .4em; margin: 0 .1em;
  border-radius: 999px; border: 1px solid var(--color-accent); background: var(--color-accent-soft);
  color: var(--color-accent) !important; font-size: .78em; font-weight: 600; line-height: 1.5;
  text-align: center; text-decoration: none !important; cursor: pointer; vertical-align: 1px; }
a.qa-chip:hover { background: var(--color-accent); color: white !important; }
.qa-unverified { text-decoration: underline dotted #c2410c 2px; text-underline-offset: 3px;
  cursor: help; }
.qa-unverified::after { content: " ⚠"; color: #c2410c; font-size: .8em; }
.qa-meta { margin-top: .5em; font-size: .8em; color: var(--body-text-color-subdued); }
.qa-notice { margin-top: .4em; padding: .25em .6em; font-size: .85em; border-radius: 4px;
  border-left: 3px solid #f59e0b; background: rgba(245, 158, 11, .12); }
.qa-when { color: var(--color-accent); font-size: .9em; white-space: nowrap; }
.qa-scope { margin-top: .3em; font-size: .8em; color: var(--body-text-color-subdued); }
.qa-scope::before { content: "· "; }
.qa-error { padding: .25em .6em; border-left: 3px solid #dc2626; background: rgba(220, 38, 38, .1);
  border-radius: 4px; }
.qa-status { font-size: .85em; color: var(--body-text-color-subdued); font-style: italic; }
.qa-empty { color: var(--body-text-color-subdued); padding: .5em; }
.qa-card { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: .5em .75em; margin-bottom: .6em; background: var(--background-fill-primary); }
.qa-card.qa-cited { border-left: 4px solid var(--color-accent); }
.qa-card-head { display: flex; gap: .5em; align-items: baseline; }
.qa-card-title { font-weight: 600; flex: 1; }
.qa-card-meta { font-size: .8em; color: var(--body-text-color-subdued); margin: .1em 0 .3em; }
.qa-card-quote { font-size: .9em; border-left: 3px solid #facc15; padding-left: .5em;
  margin: .3em 0; }
.qa-card-snippet { font-size: .85em; color: var(--body-text-color-subdued); margin: .3em 0; }
a.qa-open { font-size: .85em; font-weight: 600; text-decoration: none; cursor: pointer; }
.qa-article h3 { margin: 0 0 .2em; }
.qa-article-meta { font-size: .85em; color: var(--body-text-color-subdued); margin-bottom: .5em; }
.qa-article-body { white-space: pre-wrap; line-height: 1.6; max-height: 65vh; overflow-y: auto;
  padding: .5em .75em; border: 1px solid var(--border-color-primary); border-radius: 8px; }
.qa-chunk { background: rgba(59, 130, 246, .13); border-radius: 2px; }
.qa-article-body mark { background: #fde047; color: #111; padding: 0 .1em; border-radius: 2px; }
"""

#: Page script: a click on any `#qa-cite:` link (chips, source cards) opens that article via
#: the hidden button; after the update the highlighted sentence is scrolled into view.
JS_ON_LOAD = """
() => {
  document.addEventListener('click', (ev) => {
    const el = ev.target instanceof Element ? ev.target.closest('a[href*="#qa-cite:"]') : null;
    if (!el) return;
    ev.preventDefault();
    ev.stopPropagation();
    const href = el.getAttribute('href') || '';
    window.__qaCite = decodeURIComponent(href.slice(href.indexOf('#qa-cite:') + 9));
    const btn = document.getElementById('qa-open-btn');
    if (btn) btn.click();
  }, true);
}
"""
_JS_PASS_CITE = "(key) => window.__qaCite || key"
_JS_SCROLL = """
() => {
  let tries = 0;
  const go = () => {
    const el = document.getElementById('cited');
    if (el && el.offsetParent !== null) {
      el.scrollIntoView({block: 'center', behavior: 'instant'});
    } else if (tries++ < 40) {
      setTimeout(go, 50);
    }
  };
  setTimeout(go, 30);
}
"""

# --- the app -------------------------------------------------------------------------------


def resolve_backend(choice: str | None, settings: Settings) -> str:
    """Map a UI/API backend name to an `llm_choice`; "auto" defers to the server's setting."""
    value = _BACKEND_ALIASES.get((choice or "auto").strip().lower())
    if value is None:
        raise ValueError(
            f"Unknown backend '{choice}': use auto, ollama, embedded or quote only."
        )
    return settings.llm if value == "auto" else value


def parse_filters(
    source: str | None, date_from: str | None, date_to: str | None, include_undated: bool = False
) -> Filters:
    """Filters from the settings panel; a date that cannot be read is a ValueError."""
    dates: list[str | None] = []
    for value in (date_from, date_to):
        value = (value or "").strip()
        iso = parse_user_date(value) if value else None
        if value and iso is None:
            raise ValueError(f"Cannot read the date '{value}': use YYYY-MM-DD.")
        dates.append(iso)
    src = source if source and source != _ALL_SOURCES else None
    return Filters(src, dates[0], dates[1], bool(include_undated))


def _messages(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Chatbot messages for the finished turns."""
    out = []
    for turn in turns:
        if turn["question"]:
            out.append({"role": "user", "content": esc(turn["question"])})
        out.append({"role": "assistant", "content": turn["html"]})
    return out


def _history(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Plain-text history for follow-ups (error turns left out)."""
    out = []
    for turn in turns:
        if turn.get("answer") is not None:
            out += [{"role": "user", "content": turn["question"]},
                    {"role": "assistant", "content": turn["answer"]}]
    return out


def _user_message(exc: BaseException) -> str:
    if isinstance(exc, _USER_ERRORS):
        return str(exc)
    log.exception("answer failed")
    return f"Something went wrong while answering ({type(exc).__name__}: {exc})."


class ChatApp:
    """Handlers around one shared `Answerer`; `build` lays them out as Gradio Blocks."""

    def __init__(self, settings: Settings, answerer: Answerer | None = None) -> None:
        self.settings = settings
        self.answerer = answerer or Answerer(settings)
        self.accounts = Accounts.load(settings.users_file) if settings.users_file else None
        self.desk = CorpusDesk(settings, self.answerer.retriever.embedder, self.accounts)

    # --- services --------------------------------------------------------------------------

    def store(self) -> IndexStore:
        return self.answerer.retriever.store

    def sources(self) -> list[str]:
        try:
            return self.store().sources()
        except IndexMissingError:
            return []

    def articles_table(self) -> list[list[Any]]:
        try:
            rows = self.store().articles()
        except IndexMissingError:
            return []
        return [[r["title"], date_label(r["date"], r["date_origin"]), r["source"] or "",
                 r["chunks"], r["id"]] for r in rows]

    def ask(
        self, question: str, history_json: str = "[]", backend: str = "auto", k: int = 5,
        source: str = "", date_from: str = "", date_to: str = "", include_undated: bool = False,
    ) -> dict[str, Any]:
        """Answer `question` (history: JSON list of {role, content}); the `/ask` endpoint.

        Filters as in the chat: a source, a date range (YYYY-MM[-DD] or "Dezember 2021"),
        and whether a date range keeps undated articles; the result's `scope` says what was
        searched and how many undated articles were left out."""
        try:
            history = json.loads(history_json or "[]")
            if not isinstance(history, list) or not all(
                isinstance(m, dict) and {"role", "content"} <= m.keys() for m in history
            ):
                raise ValueError("history_json must be a JSON list of {role, content} objects.")
            if int(k) < 1:
                raise ValueError("k must be at least 1.")
            answer = self.answerer.ask(
                question, history=history, llm_choice=resolve_backend(backend, self.settings),
                k=int(k), filters=parse_filters(source, date_from, date_to, include_undated),
            )
        except json.JSONDecodeError as exc:
            raise gr.Error(f"history_json is not valid JSON: {exc}") from exc
        except Exception as exc:
            raise gr.Error(_user_message(exc)) from exc
        return answer_to_dict(answer)

    # --- chat handlers ---------------------------------------------------------------------

    def start(self, question: str, turns: list[dict[str, Any]]) -> tuple[Any, ...]:
        """Show the question at once and clear the box; `respond` does the work."""
        pending = _messages(turns)
        if question.strip():
            pending.append({"role": "user", "content": esc(question.strip())})
        return "", question, pending

    def respond(
        self,
        question: str,
        turns: list[dict[str, Any]],
        backend: str,
        ollama_model: str,
        k: float,
        source: str | None,
        date_from: str,
        date_to: str,
        include_undated: bool = False,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream one answer: (chat messages, sources panel, turns, right-hand tab)."""
        question = (question or "").strip()
        turns = list(turns or [])
        done = _messages(turns)
        user = [{"role": "user", "content": esc(question)}] if question else []
        tokens: list[str] = []
        status, hits, note = "Searching the articles…", [], None
        tab = gr.Tabs(selected="sources")

        def view(body: str) -> list[dict[str, str]]:
            return [*done, *user, {"role": "assistant", "content": body}]

        yield view(render_streaming("", status)), gr.skip(), turns, tab
        try:
            choice = resolve_backend(backend, self.settings)
            filters = parse_filters(source, date_from, date_to, include_undated)
            for event in self.answerer.stream(
                question, history=_history(turns), filters=filters, llm_choice=choice,
                ollama_model=(ollama_model or "").strip() or None, k=int(k),
            ):
                if event.kind == "status":
                    note = event.text if choice == "auto" else None
                    yield view(render_streaming("", "Searching the articles…")), gr.skip(), \
                        turns, gr.skip()
                elif event.kind == "progress" and not tokens:
                    yield view(render_streaming("", event.text)), gr.skip(), turns, gr.skip()
                elif event.kind == "sources":
                    hits = event.hits
                    status = "Writing the answer…" if hits else "Checking…"
                    yield view(render_streaming("", status)), render_sources(hits), turns, \
                        gr.skip()
                elif event.kind == "token":
                    tokens.append(event.text)
                    yield view(render_streaming("".join(tokens))), gr.skip(), turns, gr.skip()
                elif event.kind == "done" and event.answer is not None:
                    answer = event.answer
                    shown_note = note if note and answer.backend != "ollama" else None
                    body = render_answer(answer, shown_note)
                    left_out = answer.scope.undated_left_out if answer.scope else 0
                    turns = [*turns, {"question": question, "answer": answer.text, "html": body,
                                      "undated_left_out": left_out}]
                    yield _messages(turns), render_sources(answer.sources, answer), turns, \
                        gr.skip()
                    return
            raise RuntimeError("the answer stream ended without an answer")
        except Exception as exc:
            partial = esc("".join(tokens))
            body = (f"<div>{partial}</div>" if partial else "") + render_error(_user_message(exc))
            turns = [*turns, {"question": question, "answer": None, "html": body}]
            yield _messages(turns), render_sources(hits), turns, gr.skip()

    @staticmethod
    def offer_undated(turns: list[dict[str, Any]]) -> Any:
        """After an answer whose date filter left undated articles out: the one-click offer."""
        n = int(turns[-1].get("undated_left_out", 0)) if turns else 0
        label = f"Include the {n} undated article{'s' * (n != 1)} and ask again"
        return gr.Button(label, visible=n > 0)

    @staticmethod
    def reask_with_undated(turns: list[dict[str, Any]]) -> tuple[Any, ...]:
        """Tick "include undated" and ask the last question again (its answer stays above)."""
        question = turns[-1]["question"] if turns else ""
        pending = [*_messages(turns), {"role": "user", "content": esc(question)}]
        return question, pending, True, gr.Button(visible=False)

    def open_article(self, key: str) -> tuple[str, Any]:
        """The article view for a chip/card key: "n|article_id|start|end|chunk_start|chunk_end"."""
        try:
            number, article_id, *spans = unquote(key or "").split("|")
            s, e, cs, ce = (int(v) for v in spans)
            article = self.store().article(article_id)
        except ValueError:
            return render_error("Cannot open this citation: malformed link."), \
                gr.Tabs(selected="article")
        except IndexMissingError as exc:
            return render_error(f"Cannot open this citation: {exc}"), gr.Tabs(selected="article")
        if article is None:
            message = "This article is no longer in the index (it was removed or re-indexed)."
            return render_error(message), gr.Tabs(selected="article")
        when = date_label(article.date, article.date_origin)
        meta = " · ".join(x for x in (when, article.source, Path(article.path).name) if x)
        body = render_article(article.title, meta, article.text, (s, e), (cs, ce), int(number))
        return body, gr.Tabs(selected="article")

    # --- corpus handlers -------------------------------------------------------------------

    def _corpus_outputs(self, message: str) -> tuple[Any, ...]:
        """Report box, articles table, article picker, source filter, uploads table, upload
        picker: everything a corpus change can alter."""
        table = self.articles_table()
        choices = [(f"{title} ({date})", aid) for title, date, _, _, aid in table]
        uploaded = self.desk.uploads.files()
        rows = [[f.name, size_label(f.size), f.status] for f in uploaded]
        return (message, table, gr.Dropdown(choices=choices, value=None),
                gr.Dropdown(choices=[_ALL_SOURCES, *self.sources()]), rows,
                gr.Dropdown(choices=[f.name for f in uploaded], value=None))

    def refresh_corpus(self) -> tuple[Any, ...]:
        count = len(self.articles_table())
        return self._corpus_outputs(f"{count} article{'s' * (count != 1)} indexed.")

    # --- corpus changes: the desk decides who may, the handlers only show it ---------------

    def corpus_access(self, request: gr.Request) -> tuple[Any, Any, Any]:
        """On page load: show the corpus controls only to those who may use them."""
        try:
            self.desk.editor(_user(request))
        except PermissionError as exc:
            hidden = gr.Column(visible=False)
            return hidden, hidden, gr.Markdown(f"*{exc}*", visible=True)
        shown = gr.Column(visible=True)
        return shown, shown, gr.Markdown(visible=False)

    def upload(
        self, files: list[str] | None, request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[Any, ...]:
        """Index uploaded files (refused ones are named and not kept); clears the upload box
        when the upload went through."""
        labels = {"scan": "Reading files", "embed": "Embedding chunks", "write": "Writing index"}

        def report(stage: str, done: int, total: int) -> None:
            progress((done, total), desc=labels.get(stage, stage))

        try:
            ok, message = self.desk.add(files or [], _user(request), report)
        except PermissionError as exc:
            return (*self._corpus_outputs(str(exc)), gr.skip())
        return (*self._corpus_outputs(message), None if ok else gr.skip())

    def remove_upload(self, name: str | None, request: gr.Request) -> tuple[Any, ...]:
        if not name:
            return self._corpus_outputs("Pick an uploaded file to remove first.")
        try:
            return self._corpus_outputs(self.desk.remove_upload(name, _user(request))[1])
        except PermissionError as exc:
            return self._corpus_outputs(str(exc))

    def remove(self, article_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        if not article_id:
            return self._corpus_outputs("Pick an article to remove first.")
        try:
            return self._corpus_outputs(self.desk.remove_article(article_id,
                                                                 _user(request))[1])
        except PermissionError as exc:
            return self._corpus_outputs(str(exc))

    def api_upload(self, files: list[str] | None, request: gr.Request) -> str:
        """`/upload_articles` (editors' scripts, gradio_client `handle_file`): the report."""
        try:
            ok, message = self.desk.add([str(f) for f in files or []], _user(request))
        except PermissionError as exc:
            raise gr.Error(str(exc)) from exc
        if not ok:
            raise gr.Error(message)
        return message

    def api_remove(self, name: str, request: gr.Request) -> str:
        """`/remove_article`: remove an uploaded file by name; the report."""
        try:
            ok, message = self.desk.remove_upload((name or "").strip(), _user(request))
        except PermissionError as exc:
            raise gr.Error(str(exc)) from exc
        if not ok:
            raise gr.Error(message)
        return message

    @staticmethod
    def pick_row(evt: gr.SelectData) -> Any:
        row = evt.row_value or []
        return gr.Dropdown(value=row[-1]) if row else gr.skip()

    @staticmethod
    def pick_row_first(evt: gr.SelectData) -> Any:
        row = evt.row_value or []
        return gr.Dropdown(value=row[0]) if row else gr.skip()

    # --- layout ----------------------------------------------------------------------------

    def build(self) -> gr.Blocks:
        s = self.settings
        with gr.Blocks(title="News QA", analytics_enabled=False) as demo:
            turns = gr.State([])
            pending = gr.State("")
            gr.Markdown("## News QA · answers from your articles, with checked citations")
            with gr.Tabs():
                with gr.Tab("Chat", id="chat"):
                    with gr.Row(equal_height=False):
                        with gr.Column(scale=3):
                            chatbot = gr.Chatbot(
                                label="Chat", height=560, latex_delimiters=[],
                                examples=[{"text": q} for q in EXAMPLES],
                                placeholder="Ask about the indexed articles, in German or "
                                "English. Each [n] opens the passage it cites.",
                                feedback_options=None, buttons=[],  # copy would copy HTML
                                group_consecutive_messages=False,
                            )
                            with gr.Row():
                                box = gr.Textbox(
                                    placeholder="Frage stellen … / Ask a question …",
                                    show_label=False, scale=5, autofocus=True, submit_btn=True,
                                )
                                clear = gr.Button("New chat", scale=1, variant="secondary")
                            undated_btn = gr.Button("Include undated articles and ask again",
                                                    visible=False, size="sm",
                                                    elem_id="qa-undated-btn")
                            with gr.Accordion("Settings", open=False):
                                with gr.Row():
                                    backend = gr.Radio(BACKENDS, value="auto", label="Backend",
                                                       scale=2)
                                    model = gr.Textbox(s.ollama_model, label="Ollama model")
                                    k = gr.Slider(1, 10, value=s.top_k, step=1,
                                                  label="Passages")
                                with gr.Row():
                                    source = gr.Dropdown(
                                        [_ALL_SOURCES, *self.sources()], value=_ALL_SOURCES,
                                        label="Source", allow_custom_value=True,
                                    )
                                    date_from = gr.Textbox(label="From (YYYY-MM-DD)")
                                    date_to = gr.Textbox(label="To (YYYY-MM-DD)")
                                    undated = gr.Checkbox(
                                        False, label="Keep undated articles in a date filter",
                                        info="their date is unknown, so a range cannot place "
                                        "them")
                        with gr.Column(scale=2), gr.Tabs() as right:
                            with gr.Tab("Sources", id="sources"):
                                sources_html = gr.HTML(render_sources([]), js_on_load=None,
                                                       elem_id="qa-sources")
                            with gr.Tab("Article", id="article"):
                                article_html = gr.HTML(ARTICLE_PLACEHOLDER, js_on_load=None,
                                                       elem_id="qa-article")
                    cite_key_box = gr.Textbox(visible="hidden", elem_id="qa-cite-key")
                    open_btn = gr.Button("open", visible="hidden", elem_id="qa-open-btn")
                with gr.Tab("Corpus", id="corpus"):
                    access_note = gr.Markdown(visible=False, elem_id="qa-corpus-note")
                    with gr.Column(visible=not s.read_only) as editing, gr.Row():
                        with gr.Column():
                            files = gr.File(label="Add articles (.txt .md .html .jsonl)",
                                            file_count="multiple", file_types=list(UPLOAD_TYPES),
                                            height=150, elem_id="qa-upload")
                            upload_btn = gr.Button("Index uploaded files", variant="primary")
                        with gr.Column():
                            pick = gr.Dropdown([], label="Article to remove")
                            with gr.Row():
                                remove_btn = gr.Button("Remove article", variant="stop")
                                refresh = gr.Button("Refresh")
                    corpus_msg = gr.Textbox(label="Index report", lines=3, interactive=False,
                                            elem_id="qa-index-report")
                    table = gr.Dataframe(
                        headers=["Title", "Date", "Source", "Chunks", "ID"],
                        value=self.articles_table(), interactive=False, wrap=True,
                        label="Indexed articles (click a row to pick it for removal)",
                    )
                    with gr.Row(equal_height=True):
                        uploads_table = gr.Dataframe(
                            headers=["File", "Size", "Indexed"], interactive=False, wrap=True,
                            elem_id="qa-uploads",
                            label="Uploaded files (click a row to pick it)", scale=3,
                        )
                        with gr.Column(scale=1, visible=not s.read_only) as editing_uploads:
                            upload_pick = gr.Dropdown([], label="Uploaded file to remove")
                            remove_upload_btn = gr.Button("Remove uploaded file",
                                                          variant="stop")
                    # the editors' API for scripts (gradio_client), checked like the buttons
                    api_files = gr.File(file_count="multiple", visible=False)
                    api_name = gr.Textbox(visible=False)
                    api_report = gr.Textbox(visible=False)

            # answers search at once; only their model step queues (Answerer.line), so each
            # waiting chat shows its place in line
            model_limits: dict[str, Any] = {
                "concurrency_limit": s.answers_at_once, "concurrency_id": "answers",
                "api_visibility": "undocumented",
            }
            inputs = [pending, turns, backend, model, k, source, date_from, date_to, undated]
            outputs = [chatbot, sources_html, turns, right]
            private: dict[str, Any] = {"queue": False, "api_visibility": "private"}
            box.submit(self.start, [box, turns], [box, pending, chatbot], **private).then(
                self.respond, inputs, outputs, **model_limits
            ).then(self.offer_undated, [turns], [undated_btn], **private)
            chatbot.example_select(
                _example, [turns], [box, pending, chatbot], **private
            ).then(self.respond, inputs, outputs, **model_limits).then(
                self.offer_undated, [turns], [undated_btn], **private)
            undated_btn.click(self.reask_with_undated, [turns],
                              [pending, chatbot, undated, undated_btn], **private).then(
                self.respond, inputs, outputs, **model_limits
            ).then(self.offer_undated, [turns], [undated_btn], **private)
            for event in (clear.click, chatbot.clear):
                event(lambda: ([], [], render_sources([]), ARTICLE_PLACEHOLDER,
                               gr.Button(visible=False)), None,
                      [chatbot, turns, sources_html, article_html, undated_btn], **private)
            open_btn.click(self.open_article, [cite_key_box], [article_html, right],
                           js=_JS_PASS_CITE, concurrency_limit=None, show_progress="hidden",
                           api_visibility="undocumented").then(None, js=_JS_SCROLL)

            corpus_out = [corpus_msg, table, pick, source, uploads_table, upload_pick]
            upload_btn.click(self.upload, [files], [*corpus_out, files], concurrency_limit=1,
                             concurrency_id="index", api_visibility="private")
            remove_upload_btn.click(self.remove_upload, [upload_pick], corpus_out,
                                    concurrency_limit=1, concurrency_id="index",
                                    api_visibility="private")
            uploads_table.select(self.pick_row_first, None, [upload_pick],
                                 api_visibility="private")
            remove_btn.click(self.remove, [pick], corpus_out, concurrency_limit=1,
                             concurrency_id="index", api_visibility="private")
            refresh.click(self.refresh_corpus, None, corpus_out, api_visibility="private")
            table.select(self.pick_row, None, [pick], api_visibility="private")
            demo.load(self.refresh_corpus, None, corpus_out, api_visibility="private")

            gr.api(self.ask, api_name="ask", concurrency_limit=s.answers_at_once,
                   concurrency_id="answers")
            upload_api = gr.Button(visible=False)
            upload_api.click(self.api_upload, [api_files], [api_report], api_name="upload_articles",
                             concurrency_limit=1, concurrency_id="index")
            remove_api = gr.Button(visible=False)
            remove_api.click(self.api_remove, [api_name], [api_report], api_name="remove_article",
                             concurrency_limit=1, concurrency_id="index")
            demo.load(self.corpus_access, None, [editing, editing_uploads, access_note],
                      api_visibility="private")
        demo.queue(default_concurrency_limit=s.answers_at_once)
        return demo


def _user(request: gr.Request | None) -> str | None:
    """The signed-in name of a request (None without sign-in or outside a request)."""
    return getattr(request, "username", None)


def _example(turns: list[dict[str, Any]], evt: gr.SelectData) -> tuple[Any, ...]:
    """An example question picked on the empty chat: ask it."""
    value = evt.value
    text = value.get("text", "") if isinstance(value, dict) else str(value)
    return "", text, [*_messages(turns), {"role": "user", "content": esc(text)}]


def build_app(settings: Settings) -> gr.Blocks:
    """The chat app (queue configured); launch it with `launch(demo, settings, accounts)`."""
    return ChatApp(settings).build()


def theme() -> gr.themes.Base:
    """System fonts only: nothing is fetched from a font CDN."""
    return gr.themes.Soft(
        font=[gr.themes.Font("system-ui"), "sans-serif"], font_mono=["monospace"]
    )


def launch(demo: gr.Blocks, settings: Settings, accounts: Accounts | None = None,
           **kwargs: Any) -> Any:
    """Launch on settings.host:settings.port (share off unless asked), behind sign-in when
    there are `accounts` (the page and the API alike), refusing larger uploads at the door."""
    return demo.launch(
        server_name=settings.host, server_port=settings.port, share=settings.share,
        theme=theme(), css=CSS, js=JS_ON_LOAD, footer_links=["api", "settings"],
        show_error=True,
        # Gradio awaits a coroutine auth (routes.login); its stubs only name the sync form
        auth=accounts.authenticate if accounts is not None else None,  # type: ignore[arg-type]
        auth_message="Sign in with the name and password your desk's operator gave you.",
        max_file_size=int(settings.max_upload_mb * 1e6), **kwargs,
    )


def ensure_index(settings: Settings, echo: Callable[[str], None] = print) -> None:
    """Build the index from settings.articles_dir when there is none yet."""
    try:
        open_index(settings.index_dir, settings)
        return
    except IndexMissingError as exc:
        echo(f"{exc}\nBuilding the index from {settings.articles_dir}/ …")
    from qa.progress import progress_bar

    report = build_index(settings, progress=progress_bar())
    echo("\n".join(report.lines()))


def _warm(app: ChatApp) -> None:
    """Load the answer model and read its instructions while the page opens."""
    log = logging.getLogger(__name__)
    try:
        log.info("Answer model ready: %s", app.answerer.warm())
    except Exception as exc:  # a model that cannot load says so again on the first question
        log.warning("Could not prepare the answer model: %s", exc)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="app.py", description="Chat with your news articles.")
    parser.add_argument("--host", help="address to listen on (QA_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (QA_PORT, default 7860)")
    parser.add_argument("--share", action=argparse.BooleanOptionalAction, default=None,
                        help="create a public Gradio share link (QA_SHARE, default off)")
    parser.add_argument("--index-dir", type=Path, help="index folder (QA_INDEX_DIR)")
    parser.add_argument("--llm", choices=["auto", "ollama", "llamacpp", "extractive"],
                        help="backend for 'auto' in the chat (QA_LLM)")
    parser.add_argument("--users-file", type=Path,
                        help="sign-in users (QA_USERS_FILE; create with: qa users add NAME)")
    parser.add_argument("--no-auth", action="store_true", default=None,
                        help="serve beyond this machine without sign-in, deliberately")
    parser.add_argument("--read-only", action="store_true", default=None,
                        help="nobody can add or remove articles (QA_READ_ONLY)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Build the index if needed, then serve the chat."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parse(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = Settings(**overrides)
    cap_malloc_arenas(settings.malloc_arenas)  # before the worker threads allocate
    try:
        check_exposure(settings.host, settings.share, settings.users_file is not None,
                       settings.no_auth)
        accounts = Accounts.load(settings.users_file) if settings.users_file else None
        ensure_index(settings)
    except (ExposureError, FileNotFoundError, EmbeddingError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    warning = exposure_warning(settings.host, settings.share, accounts is not None)
    if warning:
        log.warning(warning)
    app = ChatApp(settings)
    _ = app.answerer.retriever.embedder.model  # load the embedder before the first question
    threading.Thread(target=_warm, args=(app,), name="warm-model", daemon=True).start()
    demo = app.build()
    sign_in = f"sign-in: {len(accounts)} users" if accounts else "no sign-in"
    mode = ", read-only" if settings.read_only else ""
    print(f"Chat on http://{settings.host}:{settings.port} (backend: {settings.llm}, "
          f"{sign_in}{mode})", flush=True)
    launch(demo, settings, app.accounts)
