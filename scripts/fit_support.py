#!/usr/bin/env python
"""Fit how the support scorer (qa/support.py) maps embedding cosines to support.

For each public bench question the gold paragraph is split into sentences; the sentence
holding the answer (`answer_starts`) must score highest among them (hard negatives: same
paragraph, same topic), and at least `MIN_RELEVANCE` (the quote picker's floor), while
sentences of another document's paragraph (easy negatives) should stay below it. The grid
over the `Calibration` parameters uses the product's own formula (`qa.support.combine`), is
searched on one half of the questions (sha1 of the id even) and reported on the other, per
set: germanquad and xquad-de (German questions) and xquad-en (English questions over the same
German paragraphs, where words cannot match and the cosine decides alone).

    HF_HUB_OFFLINE=1 python scripts/fit_support.py [--limit 400]

Writes the fitted entry for the current embedding model into qa/data/support.json.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

SETS = ("germanquad", "xquad-de", "xquad-en")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    p.add_argument("--limit", type=int, default=400, help="questions per set (0 = all)")
    p.add_argument("--pass-rate", type=float, default=0.9,
                   help="answer sentences that must reach the quote floor (fit half)")
    p.add_argument("--out", type=Path, default=REPO / "qa" / "data" / "support.json")
    return p.parse_args()


def half(qid: str) -> str:
    return "fit" if int(hashlib.sha1(qid.encode()).hexdigest(), 16) % 2 == 0 else "report"


def main() -> int:
    args = parse_args()
    bench = args.bench.expanduser().resolve()
    if not all((bench / s / "questions.jsonl").is_file() for s in SETS):
        print(f"Bench data not found under {bench}; nothing to fit.", file=sys.stderr)
        return 0
    from qa.chunking import split_sentences
    from qa.embedding import Embedder
    from qa.extractive import MIN_RELEVANCE
    from qa.language import language
    from qa.settings import Settings
    from qa.support import FALLBACK, Calibration, combine, lexical_support

    settings = Settings()
    embedder = Embedder(settings)
    rng = random.Random(0)
    cases = []
    for name in SETS:
        rows = [json.loads(x) for x in (bench / name / "questions.jsonl").read_text(
            encoding="utf-8").splitlines() if x.strip()]
        rng.shuffle(rows)
        rows = rows[: args.limit] if args.limit else rows
        for r in rows:
            spans = split_sentences(r["context"])
            start = r["answer_starts"][0]
            pos = next((i for i, (a, b) in enumerate(spans) if a <= start < b), None)
            if pos is None or len(spans) < 2:
                continue
            cases.append({"set": name, "id": r["id"], "q": r["question"], "doc": r["doc"],
                          "sents": [r["context"][a:b] for a, b in spans], "pos": pos})
    for c in cases:  # easy negatives: three sentences of another document's paragraph
        other = rng.choice([o for o in rng.sample(cases, 20) if o["doc"] != c["doc"]])
        c["easy"] = other["sents"][:3]

    texts = sorted({s for c in cases for s in c["sents"] + c["easy"]})
    print(f"{len(cases)} questions, {len(texts)} sentences to embed ...", file=sys.stderr)
    vec = dict(zip(texts, embedder.encode_passages(texts, progress=True), strict=True))
    for c in cases:
        qv = embedder.encode_query(c["q"])
        sents = c["sents"] + c["easy"]
        c["cos"] = np.array([vec[s] @ qv for s in sents])
        c["lex"] = np.array([lexical_support(c["q"], s) for s in sents])
        lang = language(c["q"])
        c["same"] = np.array([language(s) == lang for s in sents])
        c["n_hard"] = len(c["sents"])

    def evaluate(cal: Calibration, part: list[dict]) -> dict[str, float]:
        top = floor_pos = floor_easy = 0
        n_easy = 0
        for c in part:
            score = combine(c["lex"][None], c["cos"][None], c["same"][None], cal)[0]
            hard, easy = score[: c["n_hard"]], score[c["n_hard"]:]
            top += int(np.argmax(hard)) == c["pos"]
            floor_pos += hard[c["pos"]] >= MIN_RELEVANCE
            floor_easy += int((easy >= MIN_RELEVANCE).sum())
            n_easy += len(easy)
        n = max(1, len(part))
        return {"top1": top / n, "answer_reaches_floor": float(floor_pos / n),
                "easy_negative_reaches_floor": floor_easy / max(1, n_easy), "n": len(part)}

    fit = [c for c in cases if half(c["id"]) == "fit"]
    grid = [Calibration(float(lo), float(hi), w, g) for lo, hi, w, g in itertools.product(
        np.arange(0.60, 0.84, 0.02).round(2), np.arange(0.84, 0.98, 0.02).round(2),
        (0.1, 0.2, 0.3, 0.5, 0.65), (0.25, 0.5, 1.0)) if hi > lo]
    scored = [(cal, evaluate(cal, fit)) for cal in grid]
    ok = [x for x in scored if x[1]["answer_reaches_floor"] >= args.pass_rate] or scored
    best, best_fit = max(ok, key=lambda x: (round(x[1]["top1"], 3),
                                            -x[1]["easy_negative_reaches_floor"]))
    report = {}
    for name in [*SETS, "all"]:
        part = [c for c in cases if half(c["id"]) == "report" and name in ("all", c["set"])]
        report[name] = {"fitted": evaluate(best, part), "previous (MiniLM-era constants)":
                        evaluate(FALLBACK, part)}
    print(f"\nbest on the fit half: {best.__dict__} {best_fit}\n")
    from qa.evaluation.report import md_table

    print(md_table(["set (report half)", "calibration", "answer sentence ranked first",
                    "answer reaches floor", "other document reaches floor", "n"],
                   [[name, which, m["top1"], m["answer_reaches_floor"],
                     m["easy_negative_reaches_floor"], m["n"]]
                    for name, r in report.items() for which, m in r.items()], digits=3))
    data = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    data[settings.embed_model] = {
        "calibration": {k: float(v) for k, v in best.__dict__.items()},
        "fitted": {"by": "scripts/fit_support.py",
                   "at": datetime.now(UTC).isoformat(timespec="seconds"),
                   "sets": list(SETS), "limit_per_set": args.limit, "half": "sha1(id) even",
                   "objective": f"answer sentence ranked first; >= {args.pass_rate} of answer "
                                f"sentences reach the quote floor {MIN_RELEVANCE}",
                   "fit_half": best_fit},
        "report_half": report,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"\nWrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
