"""Aggregate an evaluation run and write it as a run folder.

`summarize` turns the per-question records (the lines of results.jsonl) into metrics that
each carry their sample count `n`; `write_run` writes

    runs/<YYYY-MM-DD-HHMMSS>-<name>/results.jsonl   one line per question, everything recorded
                                   summary.json    configuration + metrics
                                   report.md       the tables
                                   report.html     tables, plots and every question; one file

Metric definitions (all without an LLM judge):

* retrieval: recall@k = share of answerable questions with a gold chunk (from the gold doc,
  overlapping its gold context) in the top k; MRR@10.
* answers (answerable questions): `contains` = a normalised gold answer occurs in the
  answer (a refusal contains nothing); token F1 and exact match against the answer without
  citation markers; answered wrongly = not refused and no gold answer contained.
* refusals: precision/recall of refusing on the unanswerable questions; the false-refusal
  rate is the share of answerable questions refused.
* citations (ALCE-style, on the answered answerable questions): precision "gold" = cited
  passages overlapping the gold context / citations; precision "verifier" = citations the
  verifier accepted / citations; recall = answer sentences with at least one supporting
  citation / sentences ("verifier": accepted; "gold": overlapping the gold context).
* latency: p50/p95 of retrieval, the answer gate, choosing the prompt's sentences, first
  token and total seconds.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from qa.evaluation.metrics import Metric, mean, mrr_at, percentile, recall_at, refusal_scores
from qa.evaluation.runner import EvalRun

__all__ = [
    "KS",
    "format_value",
    "load_run",
    "render_html",
    "render_markdown",
    "summarize",
    "terminal_summary",
    "write_run",
]

KS = (1, 5, 10)
CURVE_K = 10
Record = dict[str, Any]


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------


def _m(metric: Metric) -> dict[str, float | int]:
    return {"value": round(metric.value, 4), "n": metric.n}


def is_correct(r: Record) -> bool | None:
    """Answerable: not refused and a gold answer contained; unanswerable: refused.

    None when no answer was produced (retrieval-only run, or the question failed).
    """
    if not r.get("answered") or r.get("error"):
        return None
    if r["unanswerable"]:
        return bool(r.get("refused"))
    return bool(r.get("contains")) and not r.get("refused")


def _latency(results: Sequence[Record]) -> dict[str, dict[str, Any]]:
    stages: dict[str, list[float]] = {
        "retrieval_s": [], "gate_s": [], "rerank_s": [], "prompt_s": [], "first_token_s": [],
        "total_s": [], "prompt_tokens": [],
    }
    for r in results:
        if r.get("error"):
            continue
        t = r.get("timings") or {}
        retrieval = t.get("retrieval_s", t.get("search_s"))
        if retrieval is not None:
            stages["retrieval_s"].append(float(retrieval))
        for key in ("gate_s", "rerank_s", "prompt_s", "first_token_s", "total_s",
                    "prompt_tokens"):
            if key in t:
                stages[key].append(float(t[key]))
    return {
        key: {"p50": _m(percentile(vals, 50)), "p95": _m(percentile(vals, 95))}
        for key, vals in stages.items()
    }


def _citations(answered: Sequence[Record]) -> dict[str, dict[str, float | int]]:
    citations = [c for r in answered for s in r["sentences"] for c in s["citations"]]
    sentences = [s for r in answered for s in r["sentences"]]
    return {
        "precision_gold": _m(mean(bool(c["gold"]) for c in citations)),
        "precision_verifier": _m(mean(bool(c["verified"]) for c in citations)),
        "recall_verifier": _m(mean(any(c["verified"] for c in s["citations"]) for s in sentences)),
        "recall_gold": _m(mean(any(c["gold"] for c in s["citations"]) for s in sentences)),
        "repaired": _m(mean(bool(s.get("repaired")) for s in sentences)),
    }


def _by_tag(results: Sequence[Record]) -> dict[str, dict[str, Any]]:
    tags = sorted({t for r in results for t in r["tags"]})
    out: dict[str, dict[str, Any]] = {}
    for tag in tags:
        rows = [r for r in results if tag in r["tags"] and not r.get("error")]
        answerable = [r for r in rows if not r["unanswerable"]]
        verdicts = [v for v in map(is_correct, rows) if v is not None]
        out[tag] = {
            "n": len(rows),
            "recall@5": _m(recall_at([r["rank"] for r in answerable], 5)),
            "accuracy": _m(mean(verdicts)),
        }
    return out


def summarize(results: Sequence[Record], config: dict[str, Any] | None = None) -> dict[str, Any]:
    """All aggregate metrics of a run; every figure is {"value", "n"}."""
    config = config or {}
    ok = [r for r in results if not r.get("error")]
    answerable = [r for r in ok if not r["unanswerable"]]
    ranks = [r["rank"] for r in answerable]
    k_max = max(int(config.get("k", CURVE_K)), 1)
    retrieval: dict[str, Any] = {f"recall@{k}": _m(recall_at(ranks, k)) for k in KS}
    retrieval["mrr@10"] = _m(mrr_at(ranks, 10))
    retrieval["curve"] = [
        _m(recall_at(ranks, k)) for k in range(1, min(CURVE_K, k_max) + 1)
    ]
    multi = [r for r in answerable if "multi-doc" in r["tags"] and len(r["contexts"]) > 1]
    if multi:
        retrieval["all_contexts@10"] = _m(recall_at([r["all_contexts_rank"] for r in multi], 10))

    summary: dict[str, Any] = {
        "n": len(results),
        "n_answerable": sum(1 for r in results if not r["unanswerable"]),
        "n_unanswerable": sum(1 for r in results if r["unanswerable"]),
        "errors": len(results) - len(ok),
        "retrieval": retrieval,
    }
    answered = [r for r in ok if r.get("answered")]
    if answered:
        gold_q = [r for r in answered if not r["unanswerable"]]
        summary["answers"] = {
            "contains": _m(mean(bool(r["contains"]) for r in gold_q)),
            "f1": _m(mean(float(r["f1"] or 0.0) for r in gold_q)),
            "em": _m(mean(bool(r["em"]) for r in gold_q)),
            "answered_wrongly": _m(
                mean(not r["refused"] and not r["contains"] for r in gold_q)
            ),
            "accuracy": _m(mean(v for v in map(is_correct, answered) if v is not None)),
        }
        summary["refusal"] = dict(
            refusal_scores((r["unanswerable"], bool(r["refused"])) for r in answered)
        )
        summary["citations"] = _citations([r for r in gold_q if not r["refused"]])
    summary["latency"] = _latency(results)
    summary["by_tag"] = _by_tag(results)
    return summary


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------

_LABELS = {
    "recall@1": "Recall@1",
    "recall@5": "Recall@5",
    "recall@10": "Recall@10",
    "mrr@10": "MRR@10",
    "all_contexts@10": "All gold contexts in top 10 (multi-doc)",
    "contains": "Contains a gold answer",
    "f1": "Token F1",
    "em": "Exact match",
    "answered_wrongly": "Answered wrongly",
    "accuracy": "Accuracy (answerable: correct; unanswerable: refused)",
    "precision_gold": "Citation precision (gold context)",
    "precision_verifier": "Citation precision (verifier)",
    "recall_verifier": "Citation recall (verifier)",
    "recall_gold": "Citation recall (gold context)",
    "repaired": "Sentences with a repaired citation",
    "retrieval_s": "Retrieval",
    "gate_s": "Answer gate",
    "rerank_s": "Choosing passages (best sentences)",
    "prompt_s": "Prompt (choosing sentences)",
    "first_token_s": "First token",
    "total_s": "Total",
    "prompt_tokens": "Prompt tokens",
}
_PLAIN = {"mrr@10", "f1"}  # shown as a number, not a percentage


def format_value(key: str, metric: dict[str, Any]) -> str:
    """0.853 -> '85.3%'; MRR and F1 stay numbers."""
    if not metric.get("n"):
        return "–"
    value = float(metric["value"])
    return f"{value:.3f}" if key in _PLAIN else f"{100 * value:.1f}%"


def format_seconds(metric: dict[str, Any]) -> str:
    if not metric.get("n"):
        return "–"
    value = float(metric["value"])
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _refusal_rows(ref: dict[str, Any]) -> list[tuple[str, str, str]]:
    def pct(v: float, n: int) -> str:
        return f"{100 * v:.1f}%" if n else "–"

    return [
        ("Refusal precision", pct(ref["precision"], ref["n_refused"]), str(ref["n_refused"])),
        ("Refusal recall", pct(ref["recall"], ref["n_unanswerable"]), str(ref["n_unanswerable"])),
        ("False-refusal rate (answerable refused)",
         pct(ref["false_refusal_rate"], ref["n_answerable"]), str(ref["n_answerable"])),
    ]


def metric_tables(summary: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for every table of the summary, shared by md/html/terminal."""
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    retrieval = summary["retrieval"]
    rows = [
        [_LABELS[k], format_value(k, v), str(v["n"])]
        for k, v in retrieval.items() if k != "curve"
    ]
    tables.append(("Retrieval (answerable questions)", ["Metric", "Value", "n"], rows))
    if "answers" in summary:
        rows = [[_LABELS[k], format_value(k, v), str(v["n"])]
                for k, v in summary["answers"].items()]
        tables.append(("Answers", ["Metric", "Value", "n"], rows))
        tables.append(("Refusals", ["Metric", "Value", "n"],
                       [list(r) for r in _refusal_rows(summary["refusal"])]))
        rows = [[_LABELS[k], format_value(k, v), str(v["n"])]
                for k, v in summary["citations"].items()]
        tables.append(("Citations (answered answerable questions; n = citations or sentences)",
                       ["Metric", "Value", "n"], rows))
    rows = [
        [_LABELS[k], *(format_seconds(v[p]) if k.endswith("_s") else f"{v[p]['value']:.0f}"
                       for p in ("p50", "p95")), str(v["p50"]["n"])]
        for k, v in summary["latency"].items() if v["p50"]["n"]
    ]
    tables.append(("Latency", ["Stage", "p50", "p95", "n"], rows))
    answers = "answers" in summary
    header = ["Tag", "n", "Recall@5", "n (answerable)"]
    if answers:
        header += ["Accuracy", "n (answered)"]
    rows = []
    for tag, v in summary["by_tag"].items():
        row = [tag, str(v["n"]), format_value("r", v["recall@5"]), str(v["recall@5"]["n"])]
        if answers:
            row += [format_value("a", v["accuracy"]), str(v["accuracy"]["n"])]
        rows.append(row)
    if rows:
        tables.append(("By tag", header, rows))
    return tables


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]], digits: int = 3) -> str:
    """A Markdown table; floats are rounded to `digits` (also used by the bench scripts)."""
    def esc(cell: object) -> str:
        text = f"{cell:.{digits}f}" if isinstance(cell, float) else str(cell)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _config_lines(config: dict[str, Any], index: dict[str, Any]) -> list[tuple[str, str]]:
    settings = config.get("settings") or {}
    mode = "retrieval only" if config.get("retrieval_only") else (
        f"answers: {config.get('backend')} · {config.get('model')}"
    )
    corpus = config.get("corpus") or f"configured index ({index.get('dir', '?')})"
    lines = [
        ("Test set", str(config.get("testset", "?"))),
        ("Questions", str(config.get("n_cases", "?"))
         + (f" (sample of {config['limit']}, seed {config.get('seed')})"
            if config.get("limit") else "")),
        ("Mode", mode),
        ("Corpus", f"{corpus}: {index.get('articles', '?')} articles, "
                   f"{index.get('chunks', '?')} chunks"),
        ("Retrieval", f"top {config.get('k')} · embed {settings.get('embed_model')} · "
                      f"dense {settings.get('dense_weight')} / bm25 {settings.get('bm25_weight')}"
                      f" · rrf_k {settings.get('rrf_k')} · chunk {settings.get('chunk_tokens')}"),
    ]
    if config.get("interrupted"):
        lines.append(("Partial", "interrupted: only the questions listed were evaluated"))
    if config.get("resumed"):
        lines.append(("Resumed", f"{config['resumed']} questions reused from an interrupted "
                                 "attempt; the run time covers only the rest"))
    if not config.get("retrieval_only"):
        gate = settings.get("gate_file") or "qa/data/answer_gate.json"
        lines.append(("Thresholds", f"gate {gate} (fallback refuse_below "
                                    f"{settings.get('refuse_below')}) · "
                                    f"support_threshold {settings.get('support_threshold')} · "
                                    f"context_passages {settings.get('context_passages')}"))
    return lines


def render_markdown(
    name: str, summary: dict[str, Any], config: dict[str, Any], index: dict[str, Any],
    started_at: str = "", wall_s: float | None = None,
) -> str:
    out = [f"# Evaluation: {name}", ""]
    if started_at:
        took = f" ({wall_s:.0f} s)" if wall_s is not None else ""
        out += [f"Run {started_at}{took}.", ""]
    out += [f"- **{k}**: {v}" for k, v in _config_lines(config, index)]
    if summary["errors"]:
        out.append(f"- **Errors**: {summary['errors']} questions failed (excluded from metrics)")
    for title, header, rows in metric_tables(summary):
        out += ["", f"## {title}", "", md_table(header, rows)]
    return "\n".join(out) + "\n"


def terminal_summary(name: str, summary: dict[str, Any]) -> str:
    """A compact plain-text table of the headline numbers."""
    rows: list[tuple[str, str, str]] = []
    for title, header, table in metric_tables(summary):
        if title == "By tag":
            continue
        if header[:2] == ["Stage", "p50"]:
            rows += [(f"{r[0]} p50 / p95", f"{r[1]} / {r[2]}", r[3]) for r in table]
        else:
            rows += [(r[0], r[1], r[2]) for r in table]
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    lines = [f"Evaluation {name}: {summary['n']} questions"
             + (f", {summary['errors']} failed" if summary["errors"] else "")]
    lines.append(f"{'metric'.ljust(width)}  {'value'.rjust(vwidth)}  n")
    lines.append("-" * (width + vwidth + 8))
    lines += [f"{a.ljust(width)}  {b.rjust(vwidth)}  {c}" for a, b, c in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Plots (matplotlib, Agg, embedded as base64 PNG)
# --------------------------------------------------------------------------------------------


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _gate_curve(
    results: Sequence[Record],
) -> tuple[tuple[list[float], list[float]], tuple[float, float], tuple[int, int]] | None:
    """The gate's refusal recall against its false refusals as its threshold moves (from each
    question's P(answerable)), and where the fitted threshold put it; None without both
    classes."""
    scored = [(float(r["evidence"]), bool(r["unanswerable"]), bool(r.get("gate_refused")))
              for r in results if r.get("evidence") is not None and not r.get("error")]
    n_una = sum(1 for _, u, _ in scored if u)
    n_ans = len(scored) - n_una
    if not n_una or not n_ans:
        return None
    xs, ys = [], []
    for t in sorted({0.0, 1.01, *(p for p, _, _ in scored)}):
        xs.append(100 * sum(1 for p, u, _ in scored if not u and p < t) / n_ans)
        ys.append(100 * sum(1 for p, u, _ in scored if u and p < t) / n_una)
    op = (100 * sum(1 for _, u, g in scored if not u and g) / n_ans,
          100 * sum(1 for _, u, g in scored if u and g) / n_una)
    return (xs, ys), op, (n_ans, n_una)


def _plots(results: Sequence[Record], summary: dict[str, Any]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: list[tuple[str, str]] = []
    curve = summary["retrieval"]["curve"]
    if curve and curve[0]["n"]:
        fig, ax = plt.subplots(figsize=(4.4, 3.0))
        ks = list(range(1, len(curve) + 1))
        vals = [100 * c["value"] for c in curve]
        ax.plot(ks, vals, marker="o", color="#2563eb")
        for k, v in zip(ks, vals, strict=True):
            if k in KS:
                ax.annotate(f"{v:.0f}%", (k, v), textcoords="offset points", xytext=(0, 7),
                            ha="center", fontsize=8)
        ax.set_xlabel("k")
        ax.set_ylabel("recall@k (%)")
        ax.set_xticks(ks)
        ax.set_ylim(0, 110)
        ax.grid(alpha=0.3)
        ax.set_title(f"Recall@k (n={curve[0]['n']})", fontsize=10)
        out.append(("Recall@k", _png(fig)))

    key = "total_s" if any("total_s" in (r.get("timings") or {}) for r in results) else None
    values = []
    for r in results:
        t = r.get("timings") or {}
        v = t.get(key) if key else t.get("search_s")
        if v is not None and not r.get("error"):
            values.append(float(v) * (1 if key else 1000))
    if values:
        fig, ax = plt.subplots(figsize=(4.4, 3.0))
        cap = 1.5 * percentile(values, 99).value
        outliers = sum(1 for v in values if v > cap)
        shown = [v for v in values if v <= cap] if outliers else values
        ax.hist(shown, bins=min(30, max(5, len(shown) // 3)), color="#0d9488", alpha=0.85)
        unit = "s" if key else "ms"
        label = "total answer time" if key else "retrieval time"
        p50 = percentile(values, 50).value
        p95 = percentile(values, 95).value
        for v, style, name in ((p50, "-", "p50"), (p95, "--", "p95")):
            ax.axvline(v, color="#b91c1c", linestyle=style, linewidth=1,
                       label=f"{name} {v:.2f} {unit}" if key else f"{name} {v:.0f} {unit}")
        ax.legend(fontsize=8)
        ax.set_xlabel(f"{label} ({unit})")
        ax.set_ylabel("questions")
        beyond = f", {outliers} beyond {cap:.0f} {unit} not shown" if outliers else ""
        ax.set_title(f"Latency distribution (n={len(values)}{beyond})", fontsize=10)
        ax.grid(alpha=0.3)
        out.append(("Latency", _png(fig)))

    gate = _gate_curve(results)
    if gate is not None:
        fig, ax = plt.subplots(figsize=(4.4, 3.0))
        (xs, ys), (ox, oy), (n_ans, n_una) = gate
        ax.plot(xs, ys, color="#2563eb", label="threshold swept")
        ax.scatter([ox], [oy], color="#b91c1c", zorder=3,
                   label=f"operating point: {oy:.0f}% refused, {ox:.0f}% false")
        ax.set_xlabel(f"false refusals (% of {n_ans} answerable)")
        ax.set_ylabel(f"refusal recall (% of {n_una} unanswerable)")
        ax.set_xlim(-2, 102)
        ax.set_ylim(-2, 102)
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(alpha=0.3)
        ax.set_title("Answer gate: refusals against false refusals", fontsize=10)
        out.append(("Answer gate", _png(fig)))

    by_tag = summary["by_tag"]
    answers = "answers" in summary
    metric = "accuracy" if answers else "recall@5"
    tags = [t for t, v in by_tag.items() if v[metric]["n"]]
    if tags:
        fig, ax = plt.subplots(figsize=(4.4, 0.3 * len(tags) + 1.1))
        vals = [100 * by_tag[t][metric]["value"] for t in tags]
        ax.barh(tags, vals, color="#7c3aed", alpha=0.85)
        for i, t in enumerate(tags):
            ax.text(min(vals[i] + 1, 92), i, f"{vals[i]:.0f}% (n={by_tag[t][metric]['n']})",
                    va="center", fontsize=8)
        ax.set_xlim(0, 115)
        ax.invert_yaxis()
        ax.set_xlabel("accuracy (%)" if answers else "recall@5 (%)")
        ax.set_title("Accuracy by tag" if answers else "Recall@5 by tag", fontsize=10)
        ax.grid(alpha=0.3, axis="x")
        out.append(("By tag", _png(fig)))
    return out


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;
margin:0;background:#f8fafc}
main{max-width:1160px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:28px 0 10px;color:#111827}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:10px 0 4px;
color:#374151}.meta dt{font-weight:600}.meta dd{margin:0}
.grid{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;
box-shadow:0 1px 2px rgba(0,0,0,.04)}
.card h3{font-size:14px;margin:2px 0 8px;color:#374151}
table{border-collapse:collapse;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.plots .card{flex:1 1 330px;max-width:380px}
.plots img{width:100%;height:auto;display:block}
.q{width:100%;background:#fff;border:1px solid #e5e7eb;table-layout:fixed}
.q td{font-size:12.5px;overflow-wrap:anywhere}
.q col.id{width:74px}.q col.qn{width:23%}.q col.gold{width:15%}.q col.verd{width:150px}
mark{background:#fde68a;padding:0 1px;border-radius:2px}
.q tr:nth-child(even) td{background:#fafafa}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:11.5px;font-weight:600;
white-space:nowrap;margin:1px 2px 1px 0}
.ok{background:#dcfce7;color:#166534}.bad{background:#fee2e2;color:#991b1b}
.ref{background:#e0e7ff;color:#3730a3}.warn{background:#fef3c7;color:#92400e}
.muted{color:#6b7280}.tags{color:#6b7280;font-size:11.5px}
details summary{cursor:pointer;color:#2563eb}
"""


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_h(c)}</th>" for c in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            numeric = i > 0 and bool(re.fullmatch(r"[–\d.,% ]+(ms|s)?", cell))
            cells.append(f'<td class="num">{_h(cell)}</td>' if numeric else f"<td>{_h(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _badge(text: str, cls: str, title: str = "") -> str:
    tip = f' title="{_h(title)}"' if title else ""
    return f'<span class="badge {cls}"{tip}>{_h(text)}</span>'


def _verdicts(r: Record) -> str:
    parts = []
    if r.get("error"):
        return _badge("error", "bad", r["error"])
    if not r["unanswerable"]:
        rank = r.get("rank")
        parts.append(_badge(f"rank {rank}" if rank else "not retrieved",
                            "ok" if rank and rank <= 5 else "warn" if rank else "bad",
                            "rank of the first chunk overlapping the gold context"))
    verdict = is_correct(r)
    if verdict is not None:
        if r.get("refused"):
            parts.append(_badge("refused", "ok" if verdict else "bad"))
        else:
            parts.append(_badge("correct" if verdict else "wrong", "ok" if verdict else "bad"))
    cites = [c for s in r.get("sentences") or [] for c in s["citations"]]
    if cites and not r["unanswerable"]:
        gold = sum(1 for c in cites if c["gold"])
        parts.append(_badge(f"gold cites {gold}/{len(cites)}",
                            "ok" if gold == len(cites) else "warn" if gold else "bad",
                            "citations whose passage overlaps the gold context"))
    if cites:
        ver = sum(1 for c in cites if c["verified"])
        parts.append(_badge(f"verified {ver}/{len(cites)}", "ok" if ver == len(cites) else "warn",
                            "citations the verifier accepted"))
    unverified = sum(1 for s in r.get("sentences") or [] if not s["verified"])
    if unverified:
        parts.append(_badge(f"{unverified} unverified sentence(s)", "warn"))
    return " ".join(parts)


def _highlight(text: str, answers: Sequence[str]) -> str:
    """Escaped text with literal (case-insensitive) gold answer occurrences marked."""
    needles = sorted({a for a in answers if len(a.strip()) > 1}, key=len, reverse=True)
    if not needles:
        return _h(text)
    pattern = re.compile("|".join(re.escape(a) for a in needles), re.I)
    out, pos = [], 0
    for m in pattern.finditer(text):
        out += [_h(text[pos:m.start()]), f"<mark>{_h(m.group(0))}</mark>"]
        pos = m.end()
    out.append(_h(text[pos:]))
    return "".join(out)


def _question_rows(results: Sequence[Record]) -> str:
    answered = any(r.get("answered") for r in results)
    rows = []
    for r in results:
        question = _h(r["question"])
        if r.get("history"):
            prev = " / ".join(t["content"] for t in r["history"] if t["role"] == "user")
            question += f'<div class="muted">after: {_h(prev)}</div>'
        gold = "<i>unanswerable</i>" if r["unanswerable"] else " | ".join(
            _h(a if len(a) <= 160 else a[:160] + " …") for a in r["gold_answers"])
        answer = r.get("answer") or ""
        if r.get("error"):
            answer_html = f'<span class="muted">{_h(r["error"])}</span>'
        elif not r.get("answered"):
            top = r.get("retrieved") or []
            answer_html = '<span class="muted">top: ' + _h(
                ", ".join(f"{x['doc']}#{x['chunk_id']}" for x in top[:3])) + "</span>"
        else:
            short = answer if len(answer) <= 700 else answer[:700] + " …"
            answer_html = _highlight(short, [] if r["unanswerable"] else r["gold_answers"])
            if r.get("notice"):
                answer_html += f'<div class="muted">{_h(r["notice"])}</div>'
        rows.append(
            f"<tr><td>{_h(r['id'])}<div class='tags'>{_h(', '.join(r['tags']))}</div></td>"
            f"<td>{question}</td><td>{gold}</td><td class='answer'>{answer_html}</td>"
            f"<td>{_verdicts(r)}</td></tr>"
        )
    return (
        '<table class="q"><colgroup><col class="id"><col class="qn"><col class="gold"><col>'
        '<col class="verd"></colgroup><thead><tr><th>id</th><th>Question</th><th>Gold</th>'
        f"<th>{'Answer' if answered else 'Top retrieved'}</th><th>Verdicts</th></tr></thead>"
        "<tbody>" + "".join(rows) + "</tbody></table>"
    )


def render_html(
    name: str, results: Sequence[Record], summary: dict[str, Any], config: dict[str, Any],
    index: dict[str, Any], started_at: str = "", wall_s: float | None = None,
) -> str:
    """One self-contained page: no external stylesheet, script, font or image."""
    meta = "".join(f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in _config_lines(config, index))
    if started_at:
        took = f" ({wall_s:.0f} s)" if wall_s is not None else ""
        meta += f"<dt>Run</dt><dd>{_h(started_at + took)}</dd>"
    if summary["errors"]:
        meta += f"<dt>Errors</dt><dd>{summary['errors']} questions failed (excluded)</dd>"
    cards = "".join(
        f'<div class="card"><h3>{_h(title)}</h3>{_html_table(header, rows)}</div>'
        for title, header, rows in metric_tables(summary)
    )
    plots = "".join(
        f'<div class="card"><h3>{_h(title)}</h3>'
        f'<img alt="{_h(title)}" src="data:image/png;base64,{png}"></div>'
        for title, png in _plots(results, summary)
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Evaluation {_h(name)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>Evaluation: {_h(name)}</h1><dl class='meta'>{meta}</dl>"
        f"<h2>Metrics</h2><div class='grid'>{cards}</div>"
        f"<h2>Plots</h2><div class='grid plots'>{plots}</div>"
        f"<h2>Questions ({len(results)})</h2>{_question_rows(results)}"
        "</main></body></html>\n"
    )


# --------------------------------------------------------------------------------------------
# Run folders
# --------------------------------------------------------------------------------------------


def _run_folder(runs_dir: Path, name: str, when: datetime) -> Path:
    stem = f"{when.strftime('%Y-%m-%d-%H%M%S')}-{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}"
    folder = runs_dir / stem
    n = 2
    while folder.exists():
        folder = runs_dir / f"{stem}-{n}"
        n += 1
    folder.mkdir(parents=True)
    return folder


def write_run(run: EvalRun, runs_dir: Path, name: str, *, echo: bool = True) -> Path:
    """Write the run folder; print the terminal summary when `echo`. Returns the folder."""
    results = [r.to_dict() for r in run.results]
    summary = summarize(results, run.config)
    folder = _run_folder(Path(runs_dir), name, datetime.fromisoformat(run.started_at))
    with (folder / "results.jsonl").open("w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    doc = {
        "name": name, "started_at": run.started_at, "wall_s": run.wall_s,
        "config": run.config, "index": run.index, "metrics": summary,
    }
    (folder / "summary.json").write_text(
        json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (folder / "report.md").write_text(
        render_markdown(name, summary, run.config, run.index, run.started_at, run.wall_s),
        encoding="utf-8")
    (folder / "report.html").write_text(
        render_html(name, results, summary, run.config, run.index, run.started_at, run.wall_s),
        encoding="utf-8")
    if echo:
        print(terminal_summary(name, summary))
        print(f"\nWrote {folder}/ (report.html, report.md, summary.json, results.jsonl)",
              file=sys.stderr)
    return folder


def load_run(folder: Path) -> tuple[dict[str, Any], list[Record]]:
    """(summary.json, results.jsonl records) of a run folder."""
    folder = Path(folder)
    if not (folder / "summary.json").is_file():
        raise FileNotFoundError(f"Not a run folder (no summary.json): {folder}")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    results = [
        json.loads(line)
        for line in (folder / "results.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return summary, results


def iter_metrics(metrics: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """(section, key, {"value", "n"}) for every scalar metric of a summary, in table order."""
    for section in ("retrieval", "answers", "citations"):
        for key, value in (metrics.get(section) or {}).items():
            if isinstance(value, dict) and "value" in value:
                yield section, key, value
    ref = metrics.get("refusal")
    if ref:
        yield "refusal", "precision", {"value": ref["precision"], "n": ref["n_refused"]}
        yield "refusal", "recall", {"value": ref["recall"], "n": ref["n_unanswerable"]}
        yield "refusal", "false_refusal_rate", {"value": ref["false_refusal_rate"],
                                                "n": ref["n_answerable"]}
    for key, value in (metrics.get("latency") or {}).items():
        for p in ("p50", "p95"):
            if value[p]["n"]:
                yield "latency", f"{key}:{p}", value[p]


def rerender(folder: Path) -> None:
    """Rewrite report.md and report.html of a run folder from its results.jsonl."""
    doc, results = load_run(folder)
    summary = summarize(results, doc["config"])
    args = (doc["name"], summary, doc["config"], doc.get("index") or {}, doc["started_at"],
            doc.get("wall_s"))
    (Path(folder) / "report.md").write_text(render_markdown(*args), encoding="utf-8")
    (Path(folder) / "report.html").write_text(
        render_html(args[0], results, *args[1:]), encoding="utf-8")


if __name__ == "__main__":  # python -m qa.evaluation.report RUN_FOLDER...: rebuild the reports
    for arg in sys.argv[1:]:
        rerender(Path(arg))
