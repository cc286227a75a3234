#!/usr/bin/env python
"""Answer latency and prompt length of the embedded model, with the accuracy they cost.

Runs `python -m qa eval` once per variant (a name and `QA_*` settings), each in its own
process so no model or cache carries over, one after another (two at once on 2 cores would
measure contention), and prints one table: first token p50/p95, total p50, prompt tokens
(median), "contains a gold answer", citation precision against the gold context, refusal
recall and false refusals, each with its n. Measure on an otherwise idle machine.

Variants:
    whole     whole retrieved chunks, the model condenses follow-ups (before issue #11)
    focused   the defaults: best sentences with neighbours, heuristic follow-ups
    NAME:KEY=VALUE,KEY=VALUE   any settings, e.g. b300:prompt_budget_tokens=300

Examples:
    python scripts/bench_latency.py                                   # sample set, both
    python scripts/bench_latency.py --prompts-only                    # tokens only, fast
    python scripts/bench_latency.py --variants focused b300:prompt_budget_tokens=300 \\
        --testset ../shared/bench/xquad-de --corpus ../shared/bench/xquad-de/corpus --limit 40
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

PRESETS: dict[str, dict[str, str]] = {
    "whole": {"prompt_focus": "false", "condense": "model"},
    "focused": {},
}


def parse_variant(spec: str) -> tuple[str, dict[str, str]]:
    """`focused`, or `name:key=value,key=value` (settings names without the QA_ prefix)."""
    name, _, rest = spec.partition(":")
    if not rest:
        if name not in PRESETS:
            raise SystemExit(f"unknown variant {name!r}: use {', '.join(PRESETS)} or NAME:K=V")
        return name, PRESETS[name]
    pairs = dict(item.split("=", 1) for item in rest.split(",") if item)
    return name, pairs


def run_variant(name: str, overrides: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """One `qa eval` run in a fresh process; its summary.json."""
    env = {**os.environ, **{f"QA_{k.upper()}": v for k, v in overrides.items()}}
    run_name = f"latency-{name}"
    cmd = [sys.executable, "-m", "qa", "eval", str(args.testset), "--llm", "llamacpp",
           "--name", run_name, "--runs-dir", str(args.runs_dir)]
    if args.corpus:
        cmd += ["--corpus", str(args.corpus)]
    if args.limit:
        cmd += ["--limit", str(args.limit), "--seed", str(args.seed)]
    print(f"== {name}: {' '.join(f'QA_{k.upper()}={v}' for k, v in overrides.items())}",
          flush=True)
    subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    runs = sorted(args.runs_dir.glob(f"*-{run_name}"), key=lambda p: p.stat().st_mtime)
    summary: dict[str, Any] = json.loads((runs[-1] / "summary.json").read_text("utf-8"))
    summary["folder"] = str(runs[-1])
    return summary


def _pct(metric: dict[str, Any]) -> str:
    return f"{100 * metric['value']:.1f}% (n {metric['n']})" if metric.get("n") else "–"


def _sec(metric: dict[str, Any]) -> str:
    return f"{metric['value']:.1f} s" if metric.get("n") else "–"


def table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    header = ["Variant", "First token p50", "p95", "Total p50", "Prompt tokens p50",
              "Contains gold", "Cit. precision (gold)", "Refusal recall", "False refusals", "n"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, summary in rows:
        m = summary["metrics"]
        lat, ref = m["latency"], m["refusal"]
        tokens = lat.get("prompt_tokens", {}).get("p50", {})
        cells = [
            name, _sec(lat["first_token_s"]["p50"]), _sec(lat["first_token_s"]["p95"]),
            _sec(lat["total_s"]["p50"]),
            f"{tokens['value']:.0f}" if tokens.get("n") else "–",
            _pct(m["answers"]["contains"]), _pct(m["citations"]["precision_gold"]),
            f"{ref['recall']:.2f} (n {ref['n_unanswerable']})" if ref["n_unanswerable"] else "–",
            f"{ref['false_refusal_rate']:.2f} (n {ref['n_answerable']})",
            str(m["n"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def prompt_tokens_only(variants: list[tuple[str, dict[str, str]]], testset: Path) -> None:
    """Median prompt tokens per variant without generating (seconds instead of minutes)."""
    import statistics

    sys.path.insert(0, str(REPO))
    from qa.answer import Answerer
    from qa.evaluation.testset import load_testset
    from qa.llm.select import load_llamacpp
    from qa.prompting import heuristic_condense
    from qa.settings import Settings

    cases = [c for c in load_testset(testset) if not c.unanswerable]
    print("| Variant | Prompt tokens p50 | n |\n|---|---|---|")
    for name, overrides in variants:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        answerer, llm = Answerer(settings), load_llamacpp(settings)
        counts = []
        for case in cases:
            query = heuristic_condense(case.question, case.history) if case.history \
                else case.question
            k = settings.context_passages
            hits = answerer.retriever.search(query, answerer.reranker.fetch(k))
            hits = answerer.reranker.reorder(query, hits, k)[:k]  # as the service orders them
            counts.append(answerer.prompt(case.question, hits, llm, focus_on=query).tokens)
        print(f"| {name} | {statistics.median(counts):.0f} | {len(counts)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["whole", "focused"])
    parser.add_argument("--testset", type=Path, default=REPO / "data" / "testset.jsonl")
    parser.add_argument("--corpus", type=Path, help="index this folder for the run (bench)")
    parser.add_argument("--limit", type=int, help="a seeded sample of this many questions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", type=Path, default=REPO / "runs")
    parser.add_argument("--json", type=Path, help="also write the summaries here")
    parser.add_argument("--prompts-only", action="store_true",
                        help="only the prompt-token medians over the configured index")
    args = parser.parse_args()
    if args.prompts_only:
        prompt_tokens_only([parse_variant(v) for v in args.variants], args.testset)
        return
    rows = [(name, run_variant(name, overrides, args))
            for name, overrides in map(parse_variant, args.variants)]
    print(table(rows))
    for name, summary in rows:
        print(f"{name}: {summary['folder']}")
    if args.json:
        args.json.write_text(json.dumps({n: s for n, s in rows}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
