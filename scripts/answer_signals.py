#!/usr/bin/env python
"""Which signals tell an answer to an answerable question from one to a question whose detail
is missing? An offline look, for the check that would refuse the second kind.

On the refusal benchmark's "detail left out" instances (`detail_instances.py`) every refusal is
the gate's; after it the model's answer is either accepted by the claim check ("answered") or
rejected and replaced by a quote ("quotes after rejection"). A rule that refuses there must
tell these answers from those to answerable questions on the same path. This script compares
the two per path and language by the area under the ROC curve (0.5: no signal; below 0.5 the
signal points the other way) of cheap signals of the question and the answer, and, with
`--judge`, of the embedded model asked whether the answer gives what the question asks for
(its probability of "Ja"/"Yes"; about 1.5 s per answer on 2 cores).

    python scripts/bench_refusals.py --index-dir IDX --kind detail --limit 40 \\
        --answerable-limit 0 --half fit --out detail_fit.jsonl
    python -m qa eval ../shared/bench/germanquad --corpus ../shared/bench/germanquad/corpus \\
        --llm llamacpp --limit 100 --seed 0            # and xquad-de, xquad-en
    python scripts/answer_signals.py --detail detail_fit.jsonl --runs runs/<...>-llm [--judge]

Nothing is fitted or changed in the product.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PATHS = ("answered", "quotes after rejection")
REJECTED = "The model's answer was not supported"
JUDGE = {
    "de": ("Frage: {q}\nAntwort: {a}\n\nGibt die Antwort genau das an, wonach die Frage fragt? "
           "Antworte nur mit Ja oder Nein.", ("ja",), ("nein",)),
    "en": ("Question: {q}\nAnswer: {a}\n\nDoes the answer give exactly what the question asks "
           "for? Reply with Yes or No only.", ("yes",), ("no",)),
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--detail", type=Path, nargs="+", required=True,
                   help="bench_refusals.py --kind detail outputs (the unanswerable side)")
    p.add_argument("--runs", type=Path, nargs="+", required=True,
                   help="qa eval run folders of bench questions with a model (answerable side)")
    p.add_argument("--judge", action="store_true", help="also ask the embedded model (slow)")
    return p.parse_args()


def _plain(text: str) -> str:
    """An answer without its citation markers and quotation marks."""
    return re.sub(r"\s*\[\d+\]", "", text).strip().strip("„“").strip()


def load(detail: list[Path], runs: list[Path]) -> list[dict]:
    """One row per answer on either path: y 0 for a detail-left-out question, 1 for an
    answerable one; `model` is what the model wrote, `shown` what the reply shows."""
    rows = []
    for path in detail:
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r["path"] in PATHS:
                rows.append({"y": 0, "path": r["path"], "q": r["question"],
                             "model": _plain(r["model_text"]), "shown": _plain(r["answer"])})
    for run in runs:
        for line in (run / "results.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r["unanswerable"] or r["refused"] or not r["answer"]:
                continue
            notice = r.get("notice") or ""
            path = PATHS[1] if notice.startswith(REJECTED) else PATHS[0] if not notice else None
            if path:
                rows.append({"y": 1, "path": path, "q": r["question"],
                             "model": _plain(r.get("model_text") or ""),
                             "shown": _plain(r["answer"]), "contains": bool(r["contains"])})
    return rows


def add_signals(rows: list[dict]) -> None:
    """Cheap signals: e5 cosines, the question's words in the answer and the answer's words
    new to the question, the asked date or number present."""
    import numpy as np

    from qa.answer_type import expected_type, has_type
    from qa.embedding import Embedder
    from qa.language import language
    from qa.settings import Settings
    from qa.support import content_stems

    embedder = Embedder(Settings())
    questions = np.stack([embedder.encode_query(r["q"]) for r in rows])
    shown = embedder.encode_passages([r["shown"] for r in rows])
    model = embedder.encode_passages([r["model"] or r["shown"] for r in rows])
    for r, q, s, m in zip(rows, questions, shown, model, strict=True):
        asked, said = set(content_stems(r["q"])), set(content_stems(r["shown"]))
        kind = expected_type(r["q"], leading=True)
        r.update({
            "lang": language(r["q"]),
            "question~shown cosine": float(q @ s),
            "question~model text cosine": float(q @ m),
            "model text~shown cosine": float(m @ s),
            "question words shown": len(asked & said) / max(1, len(asked)),
            "shown words not in question": len(said - asked) / max(1, len(said)),
            "asked date/number shown": float(kind not in ("date", "number")
                                             or has_type(r["shown"], kind, r["q"])),
        })


def add_judge(rows: list[dict]) -> None:
    """P(yes) of the embedded model asked whether the shown answer gives what is asked."""
    import llama_cpp

    from qa.llm.packaged import resolve_gguf
    from qa.settings import Settings

    llama = llama_cpp.Llama(model_path=str(resolve_gguf(Settings().gguf)), n_ctx=1024,
                            n_threads=os.cpu_count() or 1, logits_all=True, verbose=False)
    for i, r in enumerate(rows, start=1):
        template, yes, no = JUDGE[r["lang"]]
        out = llama.create_chat_completion(
            messages=[{"role": "user", "content": template.format(q=r["q"], a=r["shown"])}],
            max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=20)
        top = out["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        p_yes = sum(math.exp(t["logprob"]) for t in top if t["token"].strip().lower() in yes)
        p_no = sum(math.exp(t["logprob"]) for t in top if t["token"].strip().lower() in no)
        r["model judge P(yes)"] = p_yes / (p_yes + p_no) if p_yes + p_no else 0.5
        if i % 25 == 0:
            print(f"  judged {i}/{len(rows)}", file=sys.stderr, flush=True)


def auc(positive: list[float], negative: list[float]) -> float:
    """P(a random answerable row scores above a random detail row), ties half."""
    if not positive or not negative:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def main() -> int:
    args = parse_args()
    from qa.evaluation.report import md_table

    rows = load(args.detail, args.runs)
    add_signals(rows)
    if args.judge:
        add_judge(rows)
    signals = [k for k in rows[0] if k not in ("y", "path", "q", "model", "shown", "contains",
                                               "lang")]
    table = []
    for path in PATHS:
        for lang in ("de", "en"):
            part = [r for r in rows if r["path"] == path and r["lang"] == lang]
            pos, neg = [r for r in part if r["y"] == 1], [r for r in part if r["y"] == 0]
            if pos and neg:
                table.append([path, lang, len(pos), len(neg),
                              *(auc([r[s] for r in pos], [r[s] for r in neg]) for s in signals)])
    print(md_table(["path", "question language", "n answerable", "n detail left out",
                    *signals], table, digits=3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
