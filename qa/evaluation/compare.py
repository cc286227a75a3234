"""Compare two evaluation runs: metric deltas, then what changed question by question.

Questions are matched by id. "Correct" means: answerable, not refused and a gold answer
contained; unanswerable, refused. Retrieval rank changes compare the rank of the first gold
chunk (None = not in the top k).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qa.evaluation.report import format_seconds, format_value, is_correct, iter_metrics, load_run

__all__ = ["compare_runs"]

def _fmt(section: str, key: str, metric: dict[str, Any]) -> str:
    if section == "latency" and key.startswith("prompt_tokens"):
        return f"{float(metric['value']):.0f}" if metric.get("n") else "–"
    if section == "latency":
        return format_seconds(metric)
    return format_value(key, metric)


def _delta(section: str, key: str, a: dict[str, Any], b: dict[str, Any]) -> str:
    if not a.get("n") or not b.get("n"):
        return "–"
    d = float(b["value"]) - float(a["value"])
    if section == "latency" and key.startswith("prompt_tokens"):
        return f"{d:+.0f} tokens"
    if section == "latency":
        return f"{d * 1000:+.0f} ms" if abs(d) < 1 else f"{d:+.2f} s"
    if key in ("mrr@10", "f1"):
        return f"{d:+.3f}"
    return f"{100 * d:+.1f} pp"


def _short(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rank(r: dict[str, Any]) -> str:
    return "–" if r.get("rank") is None else str(r["rank"])


def compare_runs(a: Path, b: Path) -> str:
    """Markdown: a delta table of the summary metrics and the per-question changes."""
    sum_a, res_a = load_run(Path(a))
    sum_b, res_b = load_run(Path(b))
    out = [f"# Comparison: {sum_a.get('name', a)} → {sum_b.get('name', b)}", "",
           f"- A: `{a}` ({len(res_a)} questions)", f"- B: `{b}` ({len(res_b)} questions)", ""]

    metrics_a = {(s, k): m for s, k, m in iter_metrics(sum_a["metrics"])}
    metrics_b = {(s, k): m for s, k, m in iter_metrics(sum_b["metrics"])}
    keys = list(metrics_a) + [key for key in metrics_b if key not in metrics_a]
    out += ["## Metrics", "", "| Metric | A | n | B | n | Δ (B − A) |", "|---|---|---|---|---|---|"]
    empty = {"value": 0.0, "n": 0}
    for section, key in keys:
        ma, mb = metrics_a.get((section, key), empty), metrics_b.get((section, key), empty)
        out.append(
            f"| {section} {key} | {_fmt(section, key, ma)} | {ma['n']} | "
            f"{_fmt(section, key, mb)} | {mb['n']} | {_delta(section, key, ma, mb)} |"
        )

    by_id_a = {r["id"]: r for r in res_a}
    by_id_b = {r["id"]: r for r in res_b}
    common = [i for i in by_id_a if i in by_id_b]
    only_a = [i for i in by_id_a if i not in by_id_b]
    only_b = [i for i in by_id_b if i not in by_id_a]

    groups: dict[str, list[str]] = {
        "Newly correct": [], "Newly wrong": [], "Newly refused": [], "No longer refused": [],
    }
    ranks: list[tuple[str, str, str, str, str]] = []
    for qid in common:
        ra, rb = by_id_a[qid], by_id_b[qid]
        ca, cb = is_correct(ra), is_correct(rb)
        line = f"| {qid} | {_cell(_short(rb['question']))} | " \
               f"{_cell(_short(rb.get('answer') or '', 70))} |"
        if ca is False and cb is True:
            groups["Newly correct"].append(line)
        elif ca is True and cb is False:
            groups["Newly wrong"].append(line)
        if ra.get("refused") is False and rb.get("refused") is True:
            groups["Newly refused"].append(line)
        elif ra.get("refused") is True and rb.get("refused") is False:
            groups["No longer refused"].append(line)
        if not rb["unanswerable"] and ra.get("rank") != rb.get("rank"):
            before, after = ra.get("rank"), rb.get("rank")
            better = after is not None and (before is None or after < before)
            ranks.append((qid, _short(rb["question"]), _rank(ra), _rank(rb),
                          "better" if better else "worse"))

    out += ["", "## Question changes", ""]
    for title, lines in groups.items():
        out.append(f"### {title} ({len(lines)})")
        out.append("")
        if lines:
            out += ["| id | Question | Answer in B |", "|---|---|---|", *lines]
        else:
            out.append("none")
        out.append("")
    better = sum(1 for r in ranks if r[4] == "better")
    out.append(f"### Retrieval rank changes ({len(ranks)}: {better} better, "
               f"{len(ranks) - better} worse)")
    out.append("")
    if ranks:
        out += ["| id | Question | rank A | rank B | |", "|---|---|---|---|---|"]
        out += [f"| {q} | {_cell(t)} | {x} | {y} | {d} |" for q, t, x, y, d in ranks]
    else:
        out.append("none")
    if only_a or only_b:
        out += ["", f"Only in A: {', '.join(only_a) or 'none'}; "
                    f"only in B: {', '.join(only_b) or 'none'}."]
    return "\n".join(out) + "\n"
