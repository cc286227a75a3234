#!/usr/bin/env python
"""Replay a recorded eval run's model answers through today's claim check, without the model.

A change to the claim check (or to what it reads) is judged on what a model really writes,
but re-running the embedded model on 100 bench questions takes 20 minutes on 2 cores and
never writes exactly the same answers twice across code changes upstream of it. `qa eval`
records each answer's raw model text (`model_text`); this script runs the same questions
through the same answer path again, with a stand-in model that returns those texts, and
writes an ordinary run folder, so `qa eval --compare` shows what the change did:

    python scripts/replay_answers.py runs/<date>-germanquad-llm --index-dir IDX --name now
    python scripts/replay_answers.py runs/<date>-germanquad-llm --index-dir IDX \\
        --variant window --name window
    python -m qa eval --compare runs/<date>-window runs/<date>-now

Variants: `current` (the code as it is) and `window` (the claim check reads only the focused
window, not the retrieved chunks it was cut from: the behaviour before `qa.context.surroundings`).
The stand-in counts tokens with the recorded run's own model, so the prompt, and with it the
passages the answer cites, is the one the model saw.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa.llm.base import LLM, Message  # noqa: E402
from qa.schema import Hit  # noqa: E402


class Replay:
    """An `LLM` that answers each question with what the recorded run's model wrote."""

    def __init__(self, inner: LLM, texts: dict[str, str]) -> None:
        self.inner, self.texts = inner, texts
        self.name, self.model = inner.name, inner.model
        self.missing = 0

    def context_size(self) -> int:
        return self.inner.context_size()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def warm(self, system: str) -> None:
        """Nothing to warm: no text is generated."""

    def stream_chat(self, messages: list[Message], max_tokens: int,
                    temperature: float = 0.0) -> Iterator[str]:
        prompt = messages[-1].content
        # the longest recorded question the prompt holds (a short one may sit inside another)
        found = [q for q in self.texts if q in prompt]
        if not found:
            self.missing += 1
            return iter(())
        return iter([self.texts[max(found, key=len)]])


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a run folder of `qa eval --llm llamacpp|ollama`")
    p.add_argument("--index-dir", type=Path, required=True, help="the index the run used")
    p.add_argument("--variant", choices=("current", "window"), default="current")
    p.add_argument("--name", default=None, help="run name (default: <run name>-replay-<variant>)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    return p.parse_args()


def main() -> int:
    args = parse_args()
    from qa.evaluation.report import load_run, write_run
    from qa.evaluation.runner import run_eval
    from qa.evaluation.testset import TestCase
    from qa.settings import Settings

    summary, records = load_run(args.run)
    texts = {r["question"]: r.get("model_text", "") for r in records if r.get("model_text")}
    if not texts:
        raise SystemExit(f"{args.run} records no model text: it was run without a model or "
                         "before `qa eval` recorded it; rerun it with --llm llamacpp.")
    settings = Settings(**{k: v for k, v in summary["config"]["settings"].items()
                           if k in Settings.model_fields})
    choice = summary["config"].get("llm") or "llamacpp"

    import qa.answer
    import qa.llm.select

    real_select = qa.llm.select.select_llm
    inner, note = real_select(settings, choice)
    if inner is None:
        raise SystemExit(f"The run's model ({choice}) is not available here: {note}")
    replay = Replay(inner, texts)

    def select(_settings: Settings, _choice: str | None = None) -> tuple[LLM, str]:
        return replay, f"replay of {args.run.name}"

    qa.answer.select_llm = select  # type: ignore[assignment]
    qa.llm.select.select_llm = select  # type: ignore[assignment]
    if args.variant == "window":
        def window_only(windows: list[Hit], hits: list[Hit]) -> list[str] | None:
            return None  # the check reads each window alone, as before

        qa.answer.surroundings = window_only  # type: ignore[assignment]

    cases = [TestCase(id=r["id"], question=r["question"], answers=r["gold_answers"],
                      docs=r["docs"], contexts=r["contexts"], unanswerable=r["unanswerable"],
                      tags=r["tags"], history=r["history"]) for r in records]
    run = run_eval(settings, cases, llm_choice=choice, index_dir=args.index_dir,
                   meta={"replay_of": str(args.run), "variant": args.variant})
    name = args.name or f"{summary.get('name', args.run.name)}-replay-{args.variant}"
    write_run(run, args.runs_dir, name)
    same = sum(1 for a, b in zip(records, (r.to_dict() for r in run.results), strict=True)
               if a.get("answer") == b["answer"])
    print(f"{same}/{len(records)} answers identical to the recorded run; "
          f"{replay.missing} prompts without a recorded text", file=sys.stderr)
    print(json.dumps({"variant": args.variant, "identical": same, "n": len(records)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
