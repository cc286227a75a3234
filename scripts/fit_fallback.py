#!/usr/bin/env python
"""Fit when a rejected model answer is refused rather than answered with quotes.

When the claim check rejects every sentence of the model's answer, the product quotes the
passage sentence closest to what the model said (`on_unsupported="fitted"` applies this fit).
On the sample test set every unanswerable question that was not refused went that way: the
gate let it through, the model answered from a near-topic passage, the check rejected the
answer (rightly) and the fallback quoted the same passage anyway. The idea tried here: among
rejected answers, a question the gate barely let through (`Decision.margin`, log-odds above
its threshold) is more likely unanswerable. Measured on the report half it was not (README,
"Whole path"), so the product leaves it off. This script picks the margin below which a
rejected answer is refused, from `scripts/bench_refusals.py` runs on both halves of the
refusal benchmark:

    python scripts/bench_refusals.py --index-dir IDX --limit 50 --half fit --out fit.jsonl
    python scripts/bench_refusals.py --index-dir IDX --limit 50 --half report --out report.jsonl
    python scripts/fit_fallback.py --fit fit.jsonl --report report.jsonl

The threshold is the one that decides most rejected answers of the fit half right (refused
when unanswerable, quoted when answerable; on ties the lowest, which refuses least); it is
stored with its provenance and the report half's figures in `qa/data/fallback.json`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa.evaluation.report import md_table  # noqa: E402
from qa.fallback import DEFAULT_FALLBACK_FILE, REJECTED_PATHS  # noqa: E402
from qa.gate import DEFAULT_GATE_FILE  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fit", type=Path, required=True, help="bench_refusals.py --half fit output")
    p.add_argument("--report", type=Path, required=True,
                   help="bench_refusals.py --half report output")
    p.add_argument("--out", type=Path, default=DEFAULT_FALLBACK_FILE)
    p.add_argument("--dry-run", action="store_true", help="print, do not write")
    return p.parse_args()


def load(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    if not rows or "gate_margin" not in rows[0]:
        raise SystemExit(f"{path}: no gate margins; rerun scripts/bench_refusals.py")
    return rows


def refused(row: dict, threshold: float | None) -> bool:
    """Whether the whole path refuses `row` when rejected answers below `threshold` are."""
    if threshold is not None and row["path"] in REJECTED_PATHS:
        return row["gate_margin"] < threshold or row["refused"]
    return bool(row["refused"])


def fit(rows: list[dict]) -> tuple[float | None, int]:
    """The threshold deciding most rejected answers right, and how many it decides right."""
    rejected = [r for r in rows if r["path"] in REJECTED_PATHS]
    margins = sorted({r["gate_margin"] for r in rejected})
    candidates: list[float | None] = [None] + [
        (a + b) / 2 for a, b in itertools.pairwise(margins)] + (
        [margins[-1] + 1e-3] if margins else [])
    best: tuple[int, float | None] = (-1, None)
    for t in candidates:
        right = sum(refused(r, t) != r["answerable"] for r in rejected)
        if right > best[0]:  # strictly better: ties keep the lower threshold
            best = (right, t)
    return best[1], best[0]


def figures(rows: list[dict], threshold: float | None) -> dict[str, dict[str, float]]:
    by_set: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_set[r["set"]].append(r)
        by_set["all"].append(r)
    out = {}
    for name, items in by_set.items():
        un = [r for r in items if not r["answerable"]]
        an = [r for r in items if r["answerable"]]
        out[name] = {
            "refusal_recall": round(sum(refused(r, threshold) for r in un) / max(1, len(un)), 4),
            "false_refusals": round(sum(refused(r, threshold) for r in an) / max(1, len(an)), 4),
            "contains": round(sum(r["contains"] and not refused(r, threshold) for r in an)
                              / max(1, len(an)), 4),
            "n_unanswerable": len(un), "n_answerable": len(an),
        }
    return out


def table(before: dict, after: dict) -> str:
    rows = [[name, f"{before[name]['refusal_recall']:.3f} → {after[name]['refusal_recall']:.3f}",
             f"{before[name]['false_refusals']:.3f} → {after[name]['false_refusals']:.3f}",
             f"{before[name]['contains']:.3f} → {after[name]['contains']:.3f}",
             before[name]["n_unanswerable"], before[name]["n_answerable"]]
            for name in sorted(before, key=lambda n: (n == "all", n))]
    return md_table(["set", "unanswerable refused", "answerable refused",
                     "answerable: holds a gold answer", "n unanswerable", "n answerable"], rows)


def main() -> int:
    args = parse_args()
    fit_rows, report_rows = load(args.fit), load(args.report)
    threshold, right = fit(fit_rows)
    n_rejected = sum(r["path"] in REJECTED_PATHS for r in fit_rows)
    print(f"fit half: {n_rejected} rejected answers, threshold {threshold}, {right} decided right")
    result = {}
    for half, rows in (("fit", fit_rows), ("report", report_rows)):
        before, after = figures(rows, None), figures(rows, threshold)
        result[half] = {"quotes": before, "fitted": after}
        print(f"\n{half} half (quotes after every rejection → fitted fallback):\n")
        print(table(before, after))
    gate = json.loads(DEFAULT_GATE_FILE.read_text(encoding="utf-8"))
    data = {
        "refuse_below_margin": threshold,
        "gate_fitted_at": gate["fitted"]["at"],
        "fitted": {
            "by": "scripts/fit_fallback.py",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "from": "scripts/bench_refusals.py --limit 50 (embedded model), fit half",
            "rule": "a rejected answer is refused when the gate's margin (log-odds above its "
                    "threshold) is below refuse_below_margin; chosen to decide most rejected "
                    "answers of the fit half right",
            "n_rejected_fit": n_rejected,
        },
        "fit_half": result["fit"],
        "report_half": result["report"],
    }
    if not args.dry_run:
        args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
