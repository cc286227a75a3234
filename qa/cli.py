"""`qa index | search | ask | eval | serve`: a thin shell over the services.

Every flag maps onto a field of `Settings`; flags win over `QA_*` environment variables.
Errors a user can act on are printed as one clear line (exit code 2), not a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qa.progress import progress_bar
from qa.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from env, overridden by whichever flags were given."""
    names = set(Settings.model_fields)
    overrides = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return Settings(**overrides)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index-dir", type=Path, help="index folder (QA_INDEX_DIR)")
    parser.add_argument("--embed-model", help="sentence-transformers name or path (QA_EMBED_MODEL)")
    parser.add_argument("--query-prefix", help="e.g. 'query: ' for e5 models (QA_QUERY_PREFIX)")
    parser.add_argument("--passage-prefix", help="e.g. 'passage: ' (QA_PASSAGE_PREFIX)")
    parser.add_argument("--torch-threads", type=int, help="torch threads (QA_TORCH_THREADS)")


def _retrieval_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", "--top-k", type=int, help="passages to return (QA_TOP_K)")
    parser.add_argument("--source", help="only articles from this source, e.g. AFP")
    parser.add_argument("--from", "--date-from", dest="date_from",
                        help="only articles dated on/after (YYYY-MM[-DD], 'Dezember 2021')")
    parser.add_argument("--to", "--date-to", dest="date_to",
                        help="only articles dated on/before (YYYY-MM[-DD])")
    parser.add_argument("--include-undated", action="store_true",
                        help="a date filter keeps articles whose date is unknown")


def cmd_index(args: argparse.Namespace) -> int:
    from qa.indexing import build_index

    settings = _settings(args)
    report = build_index(
        settings, args.folders, rebuild=args.rebuild,
        progress=None if args.quiet else progress_bar(),
    )
    if args.json:
        from dataclasses import asdict

        print(json.dumps(asdict(report), ensure_ascii=False, indent=1))
    else:
        print("\n".join(report.lines()))
    return 0


def _filters(args: argparse.Namespace) -> Any:
    from qa.dating import parse_user_date
    from qa.retrieval import Filters

    dates = []
    for value in (args.date_from, args.date_to):
        iso = parse_user_date(value) if value else None
        if value and iso is None:
            raise ValueError(f"Cannot read the date '{value}': use YYYY-MM-DD or YYYY-MM")
        dates.append(iso)
    return Filters(args.source, dates[0], dates[1], args.include_undated)


def _print_scope(scope: Any, say_empty: bool = True) -> None:
    """What a filtered search looked at, and how to include what it left out."""
    if scope is None:
        return
    line = scope.describe() if scope.searched_articles else (
        scope.empty_message() if say_empty else "")
    if scope.undated_left_out:
        line += " Add --include-undated to search them too."
    if line.strip():
        print(line.strip(), file=sys.stderr)


def cmd_search(args: argparse.Namespace) -> int:
    from qa.retrieval import Retriever

    settings = _settings(args)
    retriever = Retriever(settings)
    filters = _filters(args)
    period = retriever.question_period(args.query, filters)
    if args.mode == "hybrid":  # best sentence fused in (qa/sentence_rerank.py), as fitted
        from qa.sentence_rerank import reranker_for
        from qa.support import SupportScorer

        reranker = reranker_for(settings, SupportScorer(retriever.embedder))
        k = args.top_k or settings.top_k
        hits = retriever.search(args.query, max(k, reranker.fetch(settings.context_passages)),
                                filters, period=period)
        hits = reranker.reorder(args.query, hits, settings.context_passages)[:k]
    else:
        hits = retriever.search(args.query, args.top_k, filters, mode=args.mode, period=period)
    _print_scope(retriever.scope(filters))
    if period is not None:
        print(f"Read from the question: {period.label()}; passages from then ranked first.",
              file=sys.stderr)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=1))
        return 0
    if not hits:
        print("No passages found.")
    for rank, hit in enumerate(hits, start=1):
        meta = ", ".join(x for x in (hit.source, hit.date) if x)
        print(f"[{rank}] {hit.title}" + (f" ({meta})" if meta else "") + f"  score {hit.score:.4f}")
        print(f"    {hit.path}  chars {hit.start}-{hit.end}")
        print("    " + hit.text.replace("\n", " ")[:400] + ("…" if len(hit.text) > 400 else ""))
    return 0


def print_sources(answer: Any) -> None:
    """Sources list: cited passages with the sentence that supports the answer."""
    from qa.name_check import describe

    cited: dict[int, list[str]] = {}
    for sentence in answer.sentences:
        for c in sentence.citations:
            cited.setdefault(c.number, [])
            if c.quote not in cited[c.number]:
                cited[c.number].append(c.quote)
    for number, hit in enumerate(answer.sources, start=1):
        if number not in cited:
            continue
        meta = ", ".join(x for x in (hit.source, hit.date) if x)
        print(f"[{number}] {hit.title}" + (f" ({meta})" if meta else ""))
        for quote in cited[number]:
            print(f'    "{quote}"')
    for sentence in answer.left_out:
        gap = describe(sentence.unstated_names, sentence.unstated_words)
        why = f"; {gap}" if gap else ""
        print(f"(left out: no passage states \"{sentence.text}\"{why})")
    if answer.refused and answer.sources:
        print("Related, not an answer:")
        for number, hit in enumerate(answer.sources[:3], start=1):
            print(f"[{number}] {hit.title}: {hit.text[:160].strip()}…")


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.answer import Answerer

    settings = _settings(args)
    answerer = Answerer(settings)
    streamed: list[str] = []
    answer = None
    for event in answerer.stream(
        args.question, filters=_filters(args), llm_choice=args.llm, k=args.top_k
    ):
        if event.kind == "status" and not args.json:
            print(f"({event.text})", file=sys.stderr)
        elif event.kind == "token" and not args.json:
            streamed.append(event.text)
            print(event.text, end="", flush=True)
        elif event.kind == "done":
            answer = event.answer
    assert answer is not None
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=1))
        return 0
    if streamed:
        print()
        if "".join(streamed).strip() != answer.text:
            print(f"\nChecked answer: {answer.text}")
    else:
        print(answer.text)
    if answer.notice:
        print(f"({answer.notice})", file=sys.stderr)
    _print_scope(answer.scope, say_empty=False)  # the answer already says it
    if answer.period_note:
        print(answer.period_note, file=sys.stderr)
    print()
    print_sources(answer)
    t = answer.timings
    first = f", first token {t['first_token_s']:.1f} s" if "first_token_s" in t else ""
    print(f"\n{answer.backend} · {answer.model} · retrieval {t.get('retrieval_s', 0) * 1000:.0f} ms"
          f"{first}, total {t.get('total_s', 0):.1f} s", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace, rest: list[str]) -> int:
    from qa.chat_ui import main as serve

    serve(rest)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qa", description="Local, private question answering over news articles."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="index folders of articles (incremental)")
    p.add_argument("folders", nargs="*", type=Path,
                   help="folders or files to add "
                   "(default: data/articles, plus folders indexed before)")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything from scratch")
    p.add_argument("--chunk-tokens", type=int, help="max chunk size in model tokens")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    _common(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="show the passages retrieved for a question")
    p.add_argument("query")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    p.add_argument("--json", action="store_true", help="print hits as JSON")
    _retrieval_flags(p)
    _common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question with checked citations")
    p.add_argument("question")
    p.add_argument("--llm", choices=["auto", "ollama", "llamacpp", "extractive"],
                   help="backend (QA_LLM); auto = Ollama if reachable, else the embedded model")
    p.add_argument("--model", dest="ollama_model", help="Ollama model tag (QA_OLLAMA_MODEL)")
    p.add_argument("--gguf", help="GGUF file for the embedded backend (QA_GGUF)")
    p.add_argument("--llm-threads", type=int, help="llama.cpp threads (QA_LLM_THREADS)")
    p.add_argument("--json", action="store_true",
                   help="print the answer, citations, sources and timings as JSON")
    _retrieval_flags(p)
    _common(p)
    p.set_defaults(func=cmd_ask)

    from qa.evaluation.command import add_eval_parser

    add_eval_parser(sub)

    from qa.accounts_command import add_users_parser

    add_users_parser(sub)  # qa users add | list | remove | passwd | role

    p = sub.add_parser("serve", help="start the browser chat (flags as for python app.py)",
                       add_help=False)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from qa.embedding import EmbeddingError
    from qa.llm.base import BackendError
    from qa.store import IndexMissingError

    args, rest = build_parser().parse_known_args(argv)
    try:
        if args.command == "serve":
            return cmd_serve(args, rest)
        if rest:
            raise ValueError(f"unrecognized arguments: {' '.join(rest)}")
        return int(args.func(args))
    except (IndexMissingError, EmbeddingError, BackendError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the previous index is unchanged", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
