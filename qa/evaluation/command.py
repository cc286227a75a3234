"""`qa eval`: run a question set and write a report folder, or compare two runs.

    qa eval data/testset.jsonl --retrieval-only
    qa eval data/testset.jsonl --llm extractive --name sample-extractive
    qa eval ../shared/bench/germanquad --corpus ../shared/bench/germanquad/corpus \\
        --llm llamacpp --limit 100 --seed 0
    qa eval --compare runs/2025-01-01-120000-a runs/2025-01-02-120000-b

Without `--corpus` the configured index (`QA_INDEX_DIR`, built by `qa index` from
data/articles) is evaluated; with it the folder is indexed into its own index first
(`--index-dir`, default `<runs-dir>/.indexes/<name>-<hash>`), reused by later runs.
Also runnable as `python -m qa eval ...` (the CLI owns parsing, errors and exit codes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_eval_parser", "cmd_eval"]

# flag dest -> Settings field (only the flags given override the environment)
_SETTING_FLAGS = {
    "index_dir": "index_dir",
    "embed_model": "embed_model",
    "torch_threads": "torch_threads",
    "chunk_tokens": "chunk_tokens",
    "ollama_model": "ollama_model",
    "gguf": "gguf",
    "llm_threads": "llm_threads",
    "refuse_below": "refuse_below",
    "support_threshold": "support_threshold",
    "context_passages": "context_passages",
}


def add_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `eval` on the CLI's subparsers; the handler is `args.func`."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "eval", help="evaluate retrieval and answers on a question set; write a report",
        description="Evaluate on a JSONL question set (data/testset.jsonl or a bench folder) "
        "and write runs/<date>-<name>/ with report.html, report.md, summary.json and "
        "results.jsonl; or compare two such runs.",
    )
    p.add_argument("testset", nargs="?", type=Path,
                   help="questions JSONL, or a bench folder holding questions.jsonl")
    p.add_argument("--corpus", type=Path,
                   help="index this folder into its own index first and evaluate on it "
                        "(default: the configured index)")
    p.add_argument("--retrieval-only", action="store_true",
                   help="only retrieval metrics; do not answer")
    p.add_argument("-k", dest="k", type=int, default=10,
                   help="passages retrieved per question for retrieval metrics (default 10)")
    p.add_argument("--llm", choices=["extractive", "llamacpp", "ollama", "auto"],
                   help="answer backend (default: QA_LLM, i.e. auto)")
    p.add_argument("--limit", type=int, help="evaluate a random sample of N questions")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit sample (default 0)")
    p.add_argument("--name", help="run name (default: <testset>-<mode>)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"),
                   help="where run folders go (default runs/)")
    p.add_argument("--index-dir", type=Path,
                   help="index folder: the one evaluated, or where --corpus is indexed")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("RUN_A", "RUN_B"),
                   help="compare two run folders instead of running")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    tuning = p.add_argument_group("settings overrides (also QA_* variables)")
    tuning.add_argument("--embed-model")
    tuning.add_argument("--torch-threads", type=int)
    tuning.add_argument("--chunk-tokens", type=int)
    tuning.add_argument("--model", dest="ollama_model", help="Ollama model tag")
    tuning.add_argument("--gguf", help="GGUF for the embedded backend")
    tuning.add_argument("--llm-threads", type=int)
    tuning.add_argument("--refuse-below", type=float)
    tuning.add_argument("--support-threshold", type=float)
    tuning.add_argument("--context-passages", type=int)
    p.set_defaults(func=cmd_eval)
    return p


def _run_name(args: argparse.Namespace) -> str:
    if args.name:
        return str(args.name)
    path = Path(args.testset)
    stem = path.name if path.is_dir() else path.stem
    if stem == "questions":
        stem = path.parent.name
    mode = "retrieval" if args.retrieval_only else (args.llm or "auto")
    return f"{stem}-{mode}" + (f"-n{args.limit}" if args.limit else "")


def cmd_eval(args: argparse.Namespace) -> int:
    if args.compare:
        from qa.evaluation.compare import compare_runs

        print(compare_runs(args.compare[0], args.compare[1]))
        return 0
    if args.testset is None:
        raise ValueError("Give a test set (e.g. data/testset.jsonl) or --compare RUN_A RUN_B.")
    if args.k < 1:
        raise ValueError("-k must be at least 1")

    from qa.evaluation.report import write_run
    from qa.evaluation.runner import default_index_dir, run_eval
    from qa.evaluation.testset import load_testset, sample
    from qa.settings import Settings

    overrides = {field: getattr(args, dest) for dest, field in _SETTING_FLAGS.items()
                 if getattr(args, dest, None) is not None}
    settings = Settings(**overrides)
    cases = load_testset(args.testset)
    picked = sample(cases, args.limit, args.seed)
    index_dir = args.index_dir
    if args.corpus is not None and index_dir is None:
        index_dir = default_index_dir(args.corpus, args.runs_dir)
    meta = {"testset": str(args.testset), "limit": args.limit, "seed": args.seed,
            "n_testset": len(cases)}
    name = _run_name(args)
    # finished questions are appended here; rerunning the same command resumes after a kill
    fingerprint = json.dumps(
        [settings.model_dump(mode="json"), str(args.testset), str(args.corpus), str(index_dir),
         args.retrieval_only, args.k, args.llm, args.limit, args.seed], sort_keys=True)
    digest = hashlib.sha1(fingerprint.encode()).hexdigest()[:10]
    checkpoint = Path(args.runs_dir) / ".partial" / f"{_slug(name)}-{digest}.jsonl"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if checkpoint.exists():
        print(f"Resuming from {checkpoint}", file=sys.stderr)
    run = run_eval(
        settings, picked, retrieval_only=args.retrieval_only, k=args.k, llm_choice=args.llm,
        corpus=args.corpus, progress=not args.quiet, index_dir=index_dir, meta=meta,
        checkpoint=checkpoint,
    )
    write_run(run, args.runs_dir, name)
    if not run.config.get("interrupted"):
        checkpoint.unlink(missing_ok=True)
    return 0


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"
