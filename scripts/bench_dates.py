#!/usr/bin/env python
"""How well article dates are read: the labelled header fixtures, and wrong dates on real text.

1. `tests/fixtures/dates/headers.jsonl`: German and English headers (stamps, datelines,
   bylines, HTML/jsonl metadata) and headers that state no date but mention dates in the
   headline or story. Each is read and cleaned exactly as indexing does.
2. The bench corpora (../shared/bench/*/corpus, Wikipedia and news text that states no
   publication date but mentions many years and days): every date found there is wrong.

Prints markdown tables (for the README) and, with --json, the raw rows.

    python scripts/bench_dates.py
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa.cleaning import clean_article  # noqa: E402
from qa.evaluation.date_fixtures import date_fixtures, load, summary  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", type=Path,
                        default=REPO / "tests/fixtures/dates/headers.jsonl")
    parser.add_argument("--bench", type=Path, default=REPO.parent / "shared/bench")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    results = date_fixtures(load(args.fixtures))
    rows = summary(results)
    print("| fixtures | n | correct (date and origin) | wrong dates | missed dates |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['group']} | {row['n']} | {row['correct']} ({row['accuracy']:.1%}) "
              f"| {row['wrong_dates']} | {row['missed']} |")
    for r in results:
        if not r.correct:
            print(f"  MISS {r.id}: expected {r.expected} ({r.expected_origin}), "
                  f"got {r.got} ({r.origin})")

    files = sorted(args.bench.glob("*/corpus/*.txt")) if args.bench.exists() else []
    if files:
        started = time.perf_counter()
        with_years = wrong = 0
        examples = []
        for file in files:
            text = file.read_text(encoding="utf-8")
            with_years += bool(re.search(r"(?<!\d)(?:1[5-9]|20)\d{2}(?!\d)", text))
            cleaned = clean_article(text)
            if cleaned.date:
                wrong += 1
                examples.append(f"{file.name}: {cleaned.date} ({cleaned.date_origin})")
        per_file = (time.perf_counter() - started) / len(files) * 1000
        print("\n| bench corpora (state no publication date) | files | mention a year | "
              "dates read (all wrong) | ms per file |")
        print("|---|---:|---:|---:|---:|")
        print(f"| {args.bench.name} | {len(files)} | {with_years} | {wrong} | {per_file:.2f} |")
        for line in examples[:10]:
            print(f"  WRONG {line}")
    else:
        print(f"\n(bench corpora not found under {args.bench}; skipped)")
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
