#!/usr/bin/env python
"""Fit the answer gate (qa/gate.py) on a refusal benchmark built from the public bench.

A question becomes unanswerable when its gold document is absent: each bench question is
asked twice against one index of the bench corpora, once as it is (answerable) and once with
every chunk of its gold document dropped from the dense and BM25 candidate lists before
fusion (an exclusion filter; BM25's statistics differ negligibly from an index without the
document). Only questions whose answer occurs in no other document (`n_docs_with_answer ==
1`) are used for the unanswerable side; the answerable side keeps the questions whose gold
passage was retrieved in the prompt's passages (a refusal there is a false refusal).

The public questions are split by a hash of their id: the gate is fitted on one half (a
logistic model over the gate's features, threshold chosen for `--target-frr` false refusals)
and reported on the other, per set. The sample test set's unanswerable questions are reported
too (never fitted on), and so is a second kind of unanswerable instance, the article kept but
its answering sentences cut (`detail_instances.py`, `--no-details` skips it). Writes
qa/data/answer_gate.json with the settings that produced it.

Searching the instances and embedding their sentences takes minutes the first time; both are
cached under /tmp/fit_gate_cache (instances by index generation and retrieval settings,
vectors by text, features by the source of the modules computing them), so a refit with other
features or another target takes seconds. Features are chosen on the fit half only
(`--select`: backward elimination by 5-fold cross-validation; `--cv-only` to compare).

    HF_HUB_OFFLINE=1 python scripts/fit_gate.py                  # the full bench index
    HF_HUB_OFFLINE=1 python scripts/fit_gate.py --index-dir /tmp/qa-bench/index-ct200 \
        --write-test-sample                                     # + tests/fixtures/gate_sample.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import bench_retrieval as br  # noqa: E402
import numpy as np  # noqa: E402
from bench_cache import CACHE, half  # noqa: E402
from bench_cache import cache_key as _cache_key  # noqa: E402

from qa.evaluation.logistic import fit_logistic, predict  # noqa: E402

SETS = ("germanquad", "xquad-de", "xquad-en")
TEST_SAMPLE = REPO / "tests" / "fixtures" / "gate_sample.json"
#: Instances per set and class in the test sample.
SAMPLE_PER_CLASS = 60


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    p.add_argument("--index-dir", type=Path, default=None,
                   help="index of the bench corpora (default: bench_retrieval's for the settings)")
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--target-frr", type=float, default=0.05,
                   help="false refusals allowed among answerable questions (fit half)")
    p.add_argument("--candidates", type=int, default=100, help="dense/BM25 lists before dropping")
    p.add_argument("--out", type=Path, default=REPO / "qa" / "data" / "answer_gate.json")
    p.add_argument("--report", type=Path, default=Path("/tmp/fit_gate_report.json"))
    p.add_argument("--word-layer", type=int, default=10,
                   help="encoder layer of the word features (qa.word_alignment); 10 of 12 had "
                        "the best cross-validation on the fit half among 9-12 (--cv-only)")
    p.add_argument("--features", default=None,
                   help="comma-separated features to fit (default: qa.gate.FEATURES)")
    p.add_argument("--select", action="store_true",
                   help="choose the features by forward selection on the fit half (5-fold CV)")
    p.add_argument("--cv-only", action="store_true",
                   help="print the fit half's cross-validation and stop (writes nothing)")
    p.add_argument("--testset", type=Path, default=REPO / "data" / "testset.jsonl",
                   help="sample test set to report the gate on (never fitted on)")
    p.add_argument("--articles", type=Path, default=REPO / "data" / "articles")
    p.add_argument("--no-details", action="store_true",
                   help="skip the detail-left-out instances (scripts/detail_instances.py), "
                        "reported beside the document-dropped ones, never fitted on")
    p.add_argument("--write-test-sample", type=Path, nargs="?", const=TEST_SAMPLE, default=None,
                   help=f"write a fixed report-half sample for tests/test_gate.py "
                        f"(default {TEST_SAMPLE.relative_to(REPO)})")
    return p.parse_args()


def rates(p: np.ndarray, y: np.ndarray, threshold: float | np.ndarray) -> dict[str, float]:
    refused = p < threshold
    ans, una = y == 1, y == 0
    return {
        "refusal_recall": float(refused[una].mean()) if una.any() else float("nan"),
        "false_refusals": float(refused[ans].mean()) if ans.any() else float("nan"),
        "refusal_precision": float((refused & una).sum() / max(1, refused.sum())),
        "n_answerable": int(ans.sum()), "n_unanswerable": int(una.sum()),
    }


def collect(args: argparse.Namespace, settings, retriever, bench: Path, sets: list[str],
            index_dir: Path) -> tuple[list[dict], int, str]:
    """The benchmark's instances, each question with the passages the product would show
    (answerable: as it is, kept when its gold passage is among them; unanswerable: with its
    gold document dropped). Searching ~2,900 questions twice takes minutes; the instances are
    cached in `CACHE`, keyed by the index generation, the retrieval settings and the bench
    files, so a refit with other features only recomputes features."""
    import pickle

    from qa.store import current_folder

    files = [bench / s / "questions.jsonl" for s in sets]
    key = _cache_key(str(current_folder(index_dir)), [(str(f), f.stat().st_mtime) for f in files],
                     args.candidates, {k: getattr(settings, k) for k in (
                         "context_passages", "candidates", "dense_weight", "bm25_weight", "rrf_k",
                         "cross_dense_weight", "cross_bm25_weight", "embed_model")})
    path = CACHE / f"instances-{key}.pkl"
    if path.is_file():
        rows, dropped_shared = pickle.loads(path.read_bytes())
        print(f"{len(rows)} instances from {path}")
        return rows, dropped_shared, key
    questions = br.load_questions(bench, sets, 0)
    k = settings.context_passages
    cross = (settings.cross_dense_weight, settings.cross_bm25_weight)
    rows = []
    dropped_shared = 0
    t0 = time.perf_counter()
    for qset, qs in questions.items():
        for q in qs:
            cached = br.Cached(retriever, q["question"], args.candidates)
            base = {"set": qset, "id": q["id"], "half": half(q["id"]), "question": q["question"]}
            hits = cached.hits("hybrid", settings.candidates, k, settings.dense_weight,
                               settings.bm25_weight, settings.rrf_k, cross)
            if br.first_rank(hits, q["doc"], q["_context"], k) is not None:
                rows.append({**base, "y": 1, "hits": hits})
            if q["n_docs_with_answer"] != 1:
                dropped_shared += 1
                continue
            gold = {cid for cid, row in cached.rows.items() if Path(row.path).name == q["doc"]}
            cached.dense = [c for c in cached.dense if c[0] not in gold]
            cached.lexical = [c for c in cached.lexical if c[0] not in gold]
            hits = cached.hits("hybrid", settings.candidates, k, settings.dense_weight,
                               settings.bm25_weight, settings.rrf_k, cross)
            rows.append({**base, "y": 0, "hits": hits})
    print(f"{len(rows)} instances searched in {time.perf_counter() - t0:.0f} s; {dropped_shared} "
          "questions kept off the unanswerable side (answer in another document too)")
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps((rows, dropped_shared)))
    return rows, dropped_shared, key


class CachedScorer:
    """A `SupportScorer` stand-in for fitting: the gate's sentence features through a
    persistent cache of query and sentence vectors (`CACHE/vectors-*.npz`), so the ~20,000
    sentences of the bench's passages are embedded once, in large batches, not per refit."""

    def __init__(self, embedder, path: Path) -> None:
        self.embedder = self  # the gate calls scorer.embedder.encode_query
        self._embedder = embedder
        self.path = path
        self.vectors: dict[tuple[str, str], np.ndarray] = {}
        self.words: dict[tuple[str, str], object] = {}  # filled by fill_words
        self.added = False
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                kinds, texts, matrix = data["kinds"], data["texts"], data["vectors"]
            self.vectors = {(str(k), str(t)): v for k, t, v in zip(kinds, texts, matrix,
                                                                     strict=True)}

    def fill(self, queries: list[str], sentences: list[str]) -> None:
        """Embed what the cache lacks, in large batches on every core."""
        todo_q = [q for q in dict.fromkeys(queries) if ("q", q) not in self.vectors]
        todo_p = [s for s in dict.fromkeys(sentences) if ("p", s) not in self.vectors]
        if not todo_q and not todo_p:
            return
        print(f"embedding {len(todo_q)} questions and {len(todo_p)} sentences ...", flush=True)
        t0 = time.perf_counter()
        with self._embedder.using_threads(None):
            for i in range(0, len(todo_q), 256):
                part = todo_q[i:i + 256]
                vecs = self._embedder._encode([self._embedder.query_prefix + q for q in part],
                                              False, 64)
                self.vectors.update({("q", q): v for q, v in zip(part, vecs, strict=True)})
            for i in range(0, len(todo_p), 2048):
                part = todo_p[i:i + 2048]
                vecs = self._embedder.encode_passages(part, batch_size=32)
                self.vectors.update({("p", s): v for s, v in zip(part, vecs, strict=True)})
                print(f"  {i + len(part)}/{len(todo_p)} in {time.perf_counter() - t0:.0f} s",
                      flush=True)
        keys = list(self.vectors)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(self.path, kinds=np.array([k for k, _ in keys]),
                 texts=np.array([t for _, t in keys]),
                 vectors=np.stack([self.vectors[k] for k in keys]))

    def encode_query(self, text: str) -> np.ndarray:
        return self.vectors[("q", text)]

    def passage_vectors(self, texts) -> np.ndarray:
        return np.stack([self.vectors[("p", t)] for t in texts])

    def fill_words(self, queries: list[str], sentences: list[str], layer: int) -> None:
        """Word vectors (`qa.word_alignment`) of the questions and sentences at `layer`, kept
        in memory and in `CACHE/words-*.pkl`."""
        import pickle

        import qa.word_alignment
        from qa.support import is_content_word
        from qa.word_alignment import encode_with_words

        source = Path(qa.word_alignment.__file__).read_bytes().hex()
        path = CACHE / f"words-{_cache_key(self._embedder.name, layer, source)}.pkl"
        if path.is_file():
            self.words = pickle.loads(path.read_bytes())
        todo = [("q", q) for q in dict.fromkeys(queries) if ("q", q) not in self.words]
        todo += [("p", s) for s in dict.fromkeys(sentences) if ("p", s) not in self.words]
        if not todo:
            return
        print(f"word vectors of {len(todo)} questions and sentences ...", flush=True)
        t0 = time.perf_counter()
        e = self._embedder
        with e.using_threads(None):
            for kind, prefix in (("q", e.query_prefix), ("p", e.passage_prefix)):
                texts = [t for k, t in todo if k == kind]
                for i in range(0, len(texts), 2048):
                    part = texts[i:i + 2048]
                    _, words = encode_with_words(e.model, part, prefix, layer, is_content_word,
                                                 32)
                    self.words.update({(kind, t): w for t, w in zip(part, words, strict=True)})
                    print(f"  {kind} {i + len(part)}/{len(texts)} in "
                          f"{time.perf_counter() - t0:.0f} s", flush=True)
        path.write_bytes(pickle.dumps(self.words))

    def passage_words(self, texts, layer: int) -> list:
        return [self.words[("p", t)] for t in texts]

    def query_words(self, text: str, layer: int):
        return self.words[("q", text)]


def feature_rows(instances: list[dict], embedder, instances_key: str,
                 word_layer: int) -> list[dict]:
    """Every feature of `qa.gate.FEATURE_POOL` per instance, computed by the gate's own code;
    cached by the instances and the source of the modules that compute them, so a refit with
    another feature set or threshold takes seconds."""
    import pickle

    import qa.answer_type
    import qa.claim_check
    import qa.gate
    import qa.support
    import qa.word_alignment
    from qa.gate import FEATURE_POOL, SENTENCE_PASSAGES, features, passage_sentence_texts

    sources = [Path(m.__file__).read_bytes().hex() for m in (  # type: ignore[arg-type]
        qa.gate, qa.answer_type, qa.support, qa.claim_check, qa.word_alignment)]
    path = CACHE / f"features-{_cache_key(instances_key, sources, word_layer)}.pkl"
    if path.is_file():
        print(f"features from {path}")
        return pickle.loads(path.read_bytes())
    scorer = CachedScorer(embedder, CACHE / f"vectors-{_cache_key(embedder.name)}.npz")
    scorer.fill([r["question"] for r in instances],
                [s for r in instances for s in passage_sentence_texts(r["hits"])])
    scorer.fill_words([r["question"] for r in instances],
                      [s for r in instances
                       for s in passage_sentence_texts(r["hits"][:SENTENCE_PASSAGES])],
                      word_layer)
    t0 = time.perf_counter()
    rows = [{**{k: v for k, v in r.items() if k != "hits"},
             **features(r["question"], r["hits"], scorer, FEATURE_POOL,  # type: ignore[arg-type]
                        word_layer)}
            for r in instances]
    print(f"features of {len(rows)} instances in {time.perf_counter() - t0:.0f} s")
    path.write_bytes(pickle.dumps(rows))
    return rows


def xy(part: list[dict], names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([[r[f] for f in names] for r in part], dtype=float).reshape(len(part), -1),
            np.array([r["y"] for r in part], dtype=float))


def threshold_for(p: np.ndarray, y: np.ndarray, target_frr: float) -> float:
    """The highest threshold whose false-refusal rate among `y == 1` stays within target."""
    answerable = np.sort(p[y == 1])
    return float(answerable[int(np.floor(target_frr * len(answerable)))])


def thresholds(p: np.ndarray, y: np.ndarray, cross: np.ndarray,
               target_frr: float) -> tuple[float, float]:
    """(same-language, cross-lingual) thresholds, each at the target among its own
    answerable questions (the target is per set, and English questions score lower)."""
    same = threshold_for(p[~cross], y[~cross], target_frr)
    other = threshold_for(p[cross], y[cross], target_frr) if (y[cross] == 1).any() else same
    return same, other


def cross_of(part: list[dict]) -> np.ndarray:
    return np.array([r["cross_lingual"] == 1.0 for r in part])


def cross_validate(rows: list[dict], names: tuple[str, ...], sets: list[str], target_frr: float,
                   folds: int = 5) -> dict[str, tuple[float, float]]:
    """Refusal recall and false refusals per set on the fit half, out of fold: each fold's
    gate (weights and threshold) is fitted on the other folds. Folds go by question id, so a
    question's answerable and unanswerable instances are never split."""
    fold = np.array([int(hashlib.md5(r["id"].encode()).hexdigest(), 16) % folds for r in rows])
    x, y = xy(rows, names)
    cross = cross_of(rows)
    refused = np.zeros(len(y), dtype=bool)
    for i in range(folds):
        train, test = fold != i, fold == i
        weights, bias = fit_logistic(x[train], y[train])
        same, other = thresholds(predict(x[train], weights, bias), y[train], cross[train],
                                 target_frr)
        refused[test] = predict(x[test], weights, bias) < np.where(cross[test], other, same)
    of_set = np.array([r["set"] for r in rows])
    out = {}
    for name in [*sets, "all"]:
        m = np.ones(len(y), dtype=bool) if name == "all" else of_set == name
        out[name] = (float(refused[m & (y == 0)].mean()), float(refused[m & (y == 1)].mean()))
    return out


def cv_line(label: str, cv: dict[str, tuple[float, float]]) -> str:
    return f"{label:44s} " + "  ".join(f"{k} {r:.3f}/{f:.3f}" for k, (r, f) in cv.items())


def select_features(rows: list[dict], sets: list[str], target_frr: float) -> tuple[str, ...]:
    """Backward elimination on the fit half: from every feature the gate computes, drop the
    one whose removal raises the cross-validated refusal recall (mean over the sets, false
    refusals held to the target by each fold's thresholds) most, while none lowers it."""
    from qa.gate import FEATURE_POOL

    def score(names: tuple[str, ...]) -> float:
        cv = cross_validate(rows, names, sets, target_frr)
        return sum(cv[s][0] for s in sets) / len(sets)

    chosen = tuple(FEATURE_POOL)
    best = score(chosen)
    print(f"all features: mean refusal recall {best:.4f}")
    while len(chosen) > 1:
        trials = [(score(tuple(f for f in chosen if f != drop)), drop) for drop in chosen
                  if drop != "cross_lingual"]  # the thresholds are per language setting
        top, drop = max(trials)
        if top < best:
            break
        chosen = tuple(f for f in chosen if f != drop)
        best = top
        print(f"- {drop}: mean refusal recall {best:.4f}")
    return chosen


def by_length(part: list[dict], names: tuple[str, ...], weights: np.ndarray, bias: float,
              thresholds_of) -> str:
    """Refusal rates by the question's content words: does the gate refuse short questions
    ("Wer ist Dmitri Peskow?") more often than long ones?"""
    from qa.support import content_stems

    length = np.array([len(set(content_stems(r["question"]))) for r in part])
    refused = predict(xy(part, names)[0], weights, bias) < thresholds_of(part)
    y = np.array([r["y"] for r in part])
    rows = []
    for lo, hi, label in ((0, 2, "≤ 2"), (3, 3, "3"), (4, 4, "4"), (5, 6, "5-6"),
                          (7, 10**6, "7+")):
        m = (length >= lo) & (length <= hi)
        rows.append([label, float(refused[m & (y == 0)].mean()),
                     float(refused[m & (y == 1)].mean()), int((m & (y == 0)).sum()),
                     int((m & (y == 1)).sum())])
    return br.table(["content words", "refusal recall", "false refusals", "n unanswerable",
                     "n answerable"], rows)


def detail_report(settings, retriever, embedder, bench: Path, sets: list[str], candidates: int,
                  key: str, refuses, word_layer: int) -> dict[str, dict]:
    """Refusal recall on the report half's detail-left-out instances, per set: questions whose
    article is there but not the sentence that answers them, as the sample test set's are.
    Only reported: fitting on them (measured) lowered the document-dropped recall without
    raising their own, since no pre-answer signal tells them from answerable questions."""
    import detail_instances

    rows, _ = detail_instances.collect(settings, retriever, embedder, bench, sets, candidates)
    feats = [r for r in feature_rows(rows, embedder, _cache_key("detail", key), word_layer)
             if r["half"] == "report"]
    out = {}
    for name in [*sets, "all"]:
        part = [r for r in feats if name in ("all", r["set"])]
        if part:
            out[name] = {"refusal_recall": round(float(np.mean(refuses(part))), 4),
                         "n": len(part)}
    return out


def sample_testset(args: argparse.Namespace, settings, embedder, gate_file: Path) -> dict:
    """The gate on the sample test set (data/testset.jsonl over data/articles), searched as
    `qa eval` does. Only reported, never fitted on: its unanswerable questions are few (11)
    and near-topic by construction."""
    from qa.evaluation.testset import load_testset
    from qa.gate import AnswerGate
    from qa.indexing import build_index
    from qa.prompting import heuristic_condense
    from qa.retrieval import Retriever
    from qa.support import SupportScorer

    index_dir = CACHE / "sample-index"
    sample = settings.model_copy(update={"index_dir": index_dir, "gate_file": gate_file})
    if not (index_dir / "CURRENT").is_file():
        build_index(sample, [args.articles], embedder=embedder)
    retriever = Retriever(sample, embedder)
    gate = AnswerGate(sample, SupportScorer(embedder))
    refused = {True: 0, False: 0}
    total = {True: 0, False: 0}
    for case in load_testset(args.testset):
        query = heuristic_condense(case.question, case.history) if case.history \
            else case.question
        hits = retriever.search(query, sample.context_passages,
                                period=retriever.question_period(query))
        total[case.unanswerable] += 1
        refused[case.unanswerable] += not gate.decide(query, hits).answerable
    return {"refusal_recall": refused[True] / max(1, total[True]),
            "false_refusals": refused[False] / max(1, total[False]),
            "n_answerable": total[False], "n_unanswerable": total[True]}


def write_test_sample(path: Path, rows: list[dict], names: tuple[str, ...], sets: list[str],
                      weights: np.ndarray, bias: float, cut: tuple[float, float]) -> None:
    """A fixed sample of report-half instances (their features only, no bench text) with the
    bounds the shipped gate must hold on it: its own figures there, less (plus) 0.05. The
    test catches a changed formula, threshold or file, not a better or worse refit."""
    keep = ("y", "cross_lingual", *names)
    out: dict = {"features": list(names), "sets": {}, "min_refusal_recall": {},
                 "max_false_refusals": {}, "by": "scripts/fit_gate.py --write-test-sample"}
    for name in sets:
        picked = []
        for y in (1, 0):
            part = [r for r in rows if r["half"] == "report" and r["set"] == name and r["y"] == y]
            part.sort(key=lambda r: hashlib.sha1(r["id"].encode()).hexdigest())
            picked += part[:SAMPLE_PER_CLASS]
        x, y_ = xy(picked, names)
        refused = predict(x, weights, bias) < np.where(cross_of(picked), cut[1], cut[0])
        out["sets"][name] = [{k: round(float(r[k]), 6) for k in keep} for r in picked]
        out["min_refusal_recall"][name] = round(float(refused[y_ == 0].mean()) - 0.05, 3)
        out["max_false_refusals"][name] = round(float(refused[y_ == 1].mean()) + 0.05, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=0) + "\n", encoding="utf-8")
    print(f"Wrote {path}")


def main() -> int:
    args = parse_args()
    bench = args.bench.expanduser().resolve()
    sets = [s for s in args.sets.split(",") if s]
    if not all((bench / s / "questions.jsonl").is_file() for s in sets):
        print(f"Bench data not found under {bench}; nothing to fit.", file=sys.stderr)
        return 0

    from qa.embedding import Embedder
    from qa.gate import FEATURE_POOL, FEATURES
    from qa.retrieval import Retriever
    from qa.settings import Settings

    settings = Settings()
    index_dir = args.index_dir or Path(f"/tmp/qa-bench/index-ct{settings.chunk_tokens}")
    settings = settings.model_copy(update={"index_dir": index_dir})
    embedder = Embedder(settings)
    retriever = Retriever(settings, embedder)
    store = retriever.store
    if store.manifest.chunker["max_tokens"] != settings.chunk_tokens:
        print(f"{index_dir} was built with other chunker settings; build it with "
              "scripts/bench_retrieval.py first.", file=sys.stderr)
        return 1
    instances, dropped_shared, key = collect(args, settings, retriever, bench, sets, index_dir)
    rows = feature_rows(instances, embedder, key, args.word_layer)
    fit_rows = [r for r in rows if r["half"] == "fit"]

    if args.select:
        names = select_features(fit_rows, sets, args.target_frr)
    else:
        names = tuple(args.features.split(",")) if args.features else FEATURES
    unknown = [f for f in names if f not in FEATURE_POOL]
    if unknown:
        print(f"unknown features {unknown}; the gate computes {FEATURE_POOL}", file=sys.stderr)
        return 2
    cv = cross_validate(fit_rows, names, sets, args.target_frr)
    print("\n5-fold cross-validation on the fit half (refusal recall / false refusals):")
    print(cv_line(",".join(names), cv))
    if args.cv_only:
        return 0

    x, y = xy(fit_rows, names)
    weights, bias = fit_logistic(x, y)
    p_fit = predict(x, weights, bias)
    threshold, threshold_cross = thresholds(p_fit, y, cross_of(fit_rows), args.target_frr)

    def per_row(part: list[dict]) -> np.ndarray:
        return np.where(cross_of(part), threshold_cross, threshold)

    report: dict[str, dict] = {}
    curve: dict[str, list] = {}
    for name in [*sets, "all"]:
        part = [r for r in rows if r["half"] == "report" and name in ("all", r["set"])]
        if not part:
            continue
        xr, yr = xy(part, names)
        pr = predict(xr, weights, bias)
        report[name] = rates(pr, yr, per_row(part))
        curve[name] = [[t, *(lambda m: (m["refusal_recall"], m["false_refusals"]))(
            rates(pr, yr, t))] for t in np.linspace(0.05, 0.95, 19).round(2).tolist()]
    report["fit half"] = rates(p_fit, y, per_row(fit_rows))
    details = {} if args.no_details else detail_report(
        settings, retriever, embedder, bench, sets, args.candidates, key,
        lambda part: predict(xy(part, names)[0], weights, bias) < per_row(part), args.word_layer)

    print(f"\nweights {dict(zip(names, weights.round(3).tolist(), strict=True))} "
          f"bias {bias:.3f} threshold {threshold:.3f} (cross-lingual {threshold_cross:.3f})\n")
    print(br.table(["half / set", "refusal recall", "false refusals", "refusal precision",
                    "n answerable", "n unanswerable"],
                   [[name, m["refusal_recall"], m["false_refusals"], m["refusal_precision"],
                     m["n_answerable"], m["n_unanswerable"]] for name, m in report.items()]))
    print("\nBy the question's length (report half, all sets):")
    print(by_length([r for r in rows if r["half"] == "report"], names, weights, bias,
                    per_row))
    if details:
        print("\nDetail left out (report half, never fitted on): refused "
              + ", ".join(f"{k} {m['refusal_recall']:.3f} (n {m['n']})"
                          for k, m in details.items()))
    gate = {
        "features": list(names),
        "weights": [round(float(w), 6) for w in weights],
        "bias": round(bias, 6),
        "threshold": round(threshold, 6),
        "threshold_cross_lingual": round(threshold_cross, 6),
        "embed_model": settings.embed_model,
        "word_layer": args.word_layer,
        "fitted": {
            "by": "scripts/fit_gate.py", "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "sets": sets, "half": "sha1(id) even", "target_false_refusals": args.target_frr,
            "features_chosen": "backward elimination by 5-fold cross-validation on the "
                               "fit half (scripts/fit_gate.py --select)",
            "cross_validation_fit_half": {k: {"refusal_recall": round(r, 4),
                                              "false_refusals": round(f, 4)}
                                          for k, (r, f) in cv.items()},
            "index": {"dir": str(index_dir), "chunks": store.counts()[1],
                      "chunker": store.manifest.chunker},
            "retrieval": {k: getattr(settings, k) for k in (
                "context_passages", "candidates", "dense_weight", "bm25_weight", "rrf_k")},
            "instances": {"fit": len(fit_rows), "report": len(rows) - len(fit_rows),
                          "questions_not_made_unanswerable": dropped_shared},
        },
        "report_half": report,
        "report_half_detail_left_out": details,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(gate, indent=1) + "\n", encoding="utf-8")
    if args.testset and args.testset.is_file():
        from qa.gate import load_fitted

        load_fitted.cache_clear()
        sample = sample_testset(args, settings, embedder, args.out)
        print(f"\nsample test set ({args.testset}, never fitted on): refusal recall "
              f"{sample['refusal_recall']:.3f} (n {sample['n_unanswerable']}), false refusals "
              f"{sample['false_refusals']:.3f} (n {sample['n_answerable']})")
        gate["sample_testset"] = sample
        args.out.write_text(json.dumps(gate, indent=1) + "\n", encoding="utf-8")
    if args.write_test_sample:
        write_test_sample(args.write_test_sample, rows, names, sets, weights, bias,
                          (threshold, threshold_cross))
    args.report.write_text(json.dumps({"gate": gate, "curve": curve, "rows": rows}, indent=1))
    print(f"\nWrote {args.out} and {args.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
