"""Lexical search: BM25 over German-analysed tokens, in immutable segments.

Analysis is lowercase + Snowball German stemming (PyStemmer), no stop-word removal: on the
bench, stemmed BM25 beats the English MiniLM embedder on German, so it carries the fusion.

Why segments, not one matrix: BM25 scores depend on collection statistics (document frequency,
average length), so an index of precomputed scores (bm25s) must be rebuilt whole when one article
is added: 254 s at a million chunks. Here each segment stores raw term frequencies (postings per
term: rows and counts, CSC) and is never changed once written; the statistics live beside them,
one small array for the whole index, and scores are computed at query time. Adding articles
writes one new small segment and updates the statistics; removing marks rows deleted and
subtracts their terms. The next generation hard-links the unchanged segment files. Scores equal
those of one index built from scratch (the Lucene BM25 variant, as bm25s computes it:
`tests/test_bm25.py` checks that against bm25s).

Segments are merged as in a log-structured merge tree: whenever the newest segment holds at least
half as many rows as the one before it, the two become one (deleted rows dropped). Sizes then fall
by more than half from one segment to the next, so a million chunks are at most ~20 segments and
each row is rewritten O(log n) times in its life.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import Stemmer

_TOKEN = re.compile(r"\w+", re.UNICODE)
FORMAT = 2  # 1 was a bm25s folder (precomputed scores)
K1, B = 1.5, 0.75  # Lucene's and bm25s' defaults; the bench was measured with them
#: rows tokenised into one segment at a time when building from scratch (bounded memory)
BUILD_BATCH = 100_000
_ARRAYS = ("doc_ids", "doc_len", "indptr", "rows", "tfs")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("german")


def analyze(text: str) -> list[str]:
    """Lowercase word tokens, Snowball-German stemmed ("Forderungen" -> "forder")."""
    return list(_stemmer().stemWords(_TOKEN.findall(text.lower())))


def chunk_text(title: str, text: str) -> str:
    """What BM25 reads for a chunk: its article's title, then the chunk."""
    return f"{title}\n{text}"


class BM25FormatError(ValueError):
    """The folder holds no segmented BM25 index (e.g. one written by an older version)."""


@dataclass
class Segment:
    """Postings of some rows: for term t, rows[indptr[t]:indptr[t+1]] hold it tfs times.

    `indptr` covers the vocabulary as it was when the segment was written; later terms have no
    postings here. `doc_ids` (chunk ids) ascend. `deleted` lists removed rows (ascending).
    """

    doc_ids: np.ndarray
    doc_len: np.ndarray
    indptr: np.ndarray
    rows: np.ndarray
    tfs: np.ndarray
    deleted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    source: Path | None = None  # folder it was read from (hard-linked into the next generation)

    @property
    def live(self) -> int:
        return len(self.doc_ids) - len(self.deleted)

    def row_of(self, chunk_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in `chunk_ids`, rows) of the ids this segment holds, deleted ones too."""
        pos = np.searchsorted(self.doc_ids, chunk_ids)
        inside = np.flatnonzero(pos < len(self.doc_ids))
        hit = inside[self.doc_ids[pos[inside]] == chunk_ids[inside]]
        return hit, pos[hit]

    def live_mask(self) -> np.ndarray:
        mask = np.ones(len(self.doc_ids), dtype=bool)
        mask[self.deleted] = False
        return mask

    def postings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(term, row, tf) of every posting, in (term, row) order."""
        terms = np.repeat(np.arange(len(self.indptr) - 1, dtype="int64"), np.diff(self.indptr))
        return terms, np.asarray(self.rows, dtype="int64"), np.asarray(self.tfs)


class BM25Index:
    """Segments plus collection statistics; rows map to chunk ids."""

    def __init__(self) -> None:
        self.vocab: list[str] = []
        self.term_id: dict[str, int] = {}
        self.df = np.zeros(0, dtype="int64")
        self.n_docs = 0
        self.total_len = 0.0
        self.segments: list[Segment] = []

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, chunk_ids: Sequence[int], texts: Sequence[str]) -> BM25Index:
        """An index of `texts` (chunk ids ascending), built in bounded batches."""
        index = cls()
        index.add(chunk_ids, texts)
        return index

    def add(self, chunk_ids: Sequence[int], texts: Sequence[str]) -> None:
        """Index new chunks (ids above every id already here) as new segments."""
        if len(chunk_ids) > BUILD_BATCH:  # bounded memory: a segment per batch, then merges
            for start in range(0, len(chunk_ids), BUILD_BATCH):
                self.add(chunk_ids[start:start + BUILD_BATCH], texts[start:start + BUILD_BATCH])
            return
        if not len(chunk_ids):
            return
        ids = np.asarray(chunk_ids, dtype="int64")
        if np.any(ids[1:] <= ids[:-1]) or (self.segments and ids[0] <= self._max_id()):
            raise ValueError("BM25 rows must be added in ascending chunk-id order")
        tokens = [analyze(t) for t in texts]
        lengths = np.fromiter((len(t) for t in tokens), dtype="int64", count=len(tokens))
        term_of = self.term_id
        flat = np.fromiter(
            (term_of.setdefault(t, len(term_of)) for doc in tokens for t in doc),
            dtype="int64", count=int(lengths.sum()),
        )
        self.vocab.extend(list(term_of)[len(self.vocab):])
        n, vocab_size = len(ids), len(self.vocab)
        keys, tfs = np.unique(flat * n + np.repeat(np.arange(n), lengths), return_counts=True)
        terms, rows = keys // n, keys % n
        counts = np.bincount(terms, minlength=vocab_size)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype("int64")
        self.segments.append(Segment(ids, lengths.astype("float32"), indptr,
                                     rows.astype("int32"), tfs.astype("float32")))
        self.df = _pad(self.df, vocab_size) + counts
        self.n_docs += n
        self.total_len += float(lengths.sum())
        self._merge_tail()

    def _max_id(self) -> int:
        return max(int(s.doc_ids[-1]) for s in self.segments if len(s.doc_ids))

    def remove(self, chunk_ids: Sequence[int], texts: Sequence[str]) -> None:
        """Mark chunks deleted; `texts` (what was indexed for them) update the statistics."""
        ids = np.asarray(chunk_ids, dtype="int64")
        found = np.zeros(len(ids), dtype=bool)
        for i, seg in enumerate(self.segments):
            at, rows = seg.row_of(ids)
            fresh = ~np.isin(rows, seg.deleted)
            at, rows = at[fresh], rows[fresh]
            if len(rows):
                self.segments[i].deleted = np.union1d(seg.deleted, rows)
                found[at] = True
        for text, hit in zip(texts, found, strict=True):
            if not hit:
                continue
            tokens = analyze(text)
            known = [self.term_id[t] for t in set(tokens) if t in self.term_id]
            self.df[known] -= 1
            self.n_docs -= 1
            self.total_len -= len(tokens)
        self._merge_tail()

    def _merge_tail(self) -> None:
        segs = self.segments
        for i, seg in enumerate(segs):  # a segment mostly deleted is rewritten alone
            if len(seg.doc_ids) and len(seg.deleted) * 2 > len(seg.doc_ids):
                segs[i] = _merge([seg])
        while len(segs) >= 2 and segs[-1].live * 2 >= segs[-2].live:
            segs[-2:] = [_merge(segs[-2:])]
        self.segments = [s for s in segs if s.live]

    # ------------------------------------------------------------------ disk
    def save(self, folder: Path) -> None:
        """Write to `folder`; segments read from disk are hard-linked, not copied."""
        folder.mkdir(parents=True, exist_ok=True)
        names = []
        for number, seg in enumerate(self.segments):
            name = f"seg-{number:04d}"
            target = folder / name
            target.mkdir()
            for array in _ARRAYS:
                path = target / f"{array}.npy"
                if seg.source is not None:
                    _link_or_copy(seg.source / f"{array}.npy", path)
                else:
                    np.save(path, getattr(seg, array))
            np.save(folder / f"{name}.deleted.npy", seg.deleted)
            names.append(name)
        np.save(folder / "df.npy", self.df)
        (folder / "vocab.txt").write_text("\n".join(self.vocab), encoding="utf-8")
        (folder / "bm25.json").write_text(json.dumps({
            "format": FORMAT, "k1": K1, "b": B, "n_docs": self.n_docs,
            "total_len": self.total_len, "segments": names}))

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> BM25Index:
        """Load; `mmap` maps the postings instead of reading them (a published generation never
        changes), so open time and memory do not grow with the index."""
        try:
            meta = json.loads((folder / "bm25.json").read_text())
        except FileNotFoundError:
            if (folder / "params.index.json").is_file():  # what bm25s writes
                raise BM25FormatError(f"an older BM25 index (bm25s) in {folder}") from None
            raise
        if meta.get("format") != FORMAT:
            raise BM25FormatError(f"BM25 format {meta.get('format')}, need {FORMAT}")
        mode: Literal["r"] | None = "r" if mmap else None
        index = cls()
        text = (folder / "vocab.txt").read_text(encoding="utf-8")
        index.vocab = text.split("\n") if text else []
        index.term_id = {t: i for i, t in enumerate(index.vocab)}
        index.df = np.load(folder / "df.npy")
        index.n_docs, index.total_len = int(meta["n_docs"]), float(meta["total_len"])
        for name in meta["segments"]:
            arrays = {a: _plain(np.load(folder / name / f"{a}.npy", mmap_mode=mode))
                      for a in _ARRAYS}
            deleted = np.load(folder / f"{name}.deleted.npy")
            index.segments.append(Segment(**arrays, deleted=deleted, source=folder / name))
        if len(index.df) != len(index.vocab):
            raise BM25FormatError(f"{len(index.df)} frequencies for {len(index.vocab)} terms")
        return index

    # ------------------------------------------------------------------ search
    def __len__(self) -> int:
        return self.n_docs

    def search(
        self, query: str, n: int, allowed: set[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top-n (chunk_id, score) with score > 0, optionally only among `allowed` chunk ids."""
        terms = Counter(self.term_id[t] for t in analyze(query) if t in self.term_id)
        if not terms or self.n_docs == 0 or n <= 0:
            return []
        wanted = None if allowed is None else np.fromiter(allowed, dtype="int64")
        avg = self.total_len / self.n_docs
        weights = sorted(((t, c * _idf(int(self.df[t]), self.n_docs)) for t, c in terms.items()),
                         key=lambda tw: -tw[1])
        found_ids, found_scores = [], []
        for seg in self.segments:
            keep = None
            if len(seg.deleted) or wanted is not None:
                keep = seg.live_mask()
                if wanted is not None:
                    allowed_rows = np.zeros(len(keep), dtype=bool)
                    allowed_rows[seg.row_of(wanted)[1]] = True
                    keep &= allowed_rows
            rows, scores = _top(seg, weights, avg, n, keep)
            found_ids.append(seg.doc_ids[rows])
            found_scores.append(scores)
        if not found_ids:
            return []
        ids, scores = np.concatenate(found_ids), np.concatenate(found_scores)
        order = np.lexsort((ids, -scores))[:n]  # score, then the older chunk first
        return [(int(ids[i]), float(scores[i])) for i in order]


def _idf(df: int, n: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def _contribution(
    seg: Segment, term: int, weight: float, avg_len: float, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, BM25 contribution) of one query term: for all its postings, or for `rows` only
    (those of them that hold the term), found by binary search in the term's sorted rows."""
    start, end = int(seg.indptr[term]), int(seg.indptr[term + 1])
    posted = seg.rows[start:end]
    if rows is None:
        tf = seg.tfs[start:end]
    else:  # `rows` ascending, as the postings are: sorted needles keep the search in cache
        pos = np.searchsorted(posted, rows.astype(posted.dtype, copy=False))  # no upcast
        hit = pos < len(posted)
        hit[hit] = posted[pos[hit]] == rows[hit]
        posted, tf = rows[hit], seg.tfs[start + pos[hit]]
    norm = K1 * ((1 - B) + B * seg.doc_len[posted] / avg_len)
    return posted, (weight * tf / (tf + norm)).astype("float32")


def _top(
    seg: Segment, weights: list[tuple[int, float]], avg_len: float, n: int,
    keep: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The segment's top-n (rows, scores) with score > 0 among `keep` rows, exactly.

    MaxScore: terms are scored rarest (highest weight) first. A term adds at most its weight
    to a document (tf / (tf + norm) < 1), so once the weights still to come sum to less than
    the n-th best score so far, no document without a rarer term can reach the top n: the
    common terms ("der", "die", "Russland") are then looked up only for the candidates, by
    binary search, instead of scoring their million postings.
    """
    vocab_here = len(seg.indptr) - 1
    terms = [(t, w) for t, w in weights
             if t < vocab_here and seg.indptr[t] < seg.indptr[t + 1]]
    empty = (np.zeros(0, dtype="int64"), np.zeros(0, dtype="float32"))
    if not terms:
        return empty
    still = np.cumsum([w for _, w in terms][::-1])[::-1]  # weight of terms i.. to come
    scores = np.zeros(len(seg.doc_ids), dtype="float32")
    seen = np.zeros(len(seg.doc_ids), dtype=bool)
    touched: list[np.ndarray] = []
    theta = 0.0
    done = 0
    for term, weight in terms:
        rows, add = _contribution(seg, term, weight, avg_len)
        if keep is not None:
            mask = keep[rows]
            rows, add = rows[mask], add[mask]
        scores[rows] += add  # rows are unique within a term
        fresh = rows[~seen[rows]]
        seen[fresh] = True
        touched.append(fresh)
        done += 1
        if done == len(terms):
            break
        count = sum(len(t) for t in touched)
        if count >= n:
            candidates = np.concatenate(touched)
            touched = [candidates]
            theta = float(np.partition(scores[candidates], count - n)[count - n])
            if still[done] < theta:
                break
    candidates = np.concatenate(touched) if touched else empty[0]
    if done < len(terms):  # the rest only for documents that can still reach the top n
        candidates = np.sort(candidates[scores[candidates] + still[done] >= theta])
        for term, weight in terms[done:]:
            rows, add = _contribution(seg, term, weight, avg_len, candidates)
            scores[rows] += add
    if len(candidates) > n:
        candidates = candidates[np.argpartition(-scores[candidates], n - 1)[:n]]
    return candidates, scores[candidates]


def _merge(segs: Sequence[Segment]) -> Segment:
    """One segment holding the live rows of `segs` (consecutive, ids ascending)."""
    parts_terms, parts_rows, parts_tfs, ids, lens = [], [], [], [], []
    offset = 0
    for seg in segs:
        live = seg.live_mask()
        new_row = np.cumsum(live) - 1 + offset
        terms, rows, tfs = seg.postings()
        keep = live[rows]
        parts_terms.append(terms[keep])
        parts_rows.append(new_row[rows[keep]])
        parts_tfs.append(tfs[keep])
        ids.append(np.asarray(seg.doc_ids)[live])
        lens.append(np.asarray(seg.doc_len)[live])
        offset += int(live.sum())
    terms = np.concatenate(parts_terms)
    order = np.argsort(terms, kind="stable")  # rows stay ascending within a term
    vocab_size = max(len(s.indptr) - 1 for s in segs)
    counts = np.bincount(terms, minlength=vocab_size)
    return Segment(
        np.concatenate(ids), np.concatenate(lens),
        np.concatenate([[0], np.cumsum(counts)]).astype("int64"),
        np.concatenate(parts_rows)[order].astype("int32"),
        np.concatenate(parts_tfs)[order].astype("float32"),
    )


def _plain(array: np.ndarray) -> np.ndarray:
    """A mapped array as a plain ndarray view: slicing a np.memmap costs a Python call each
    (5 ms a query at a million chunks), a view of the same pages does not."""
    return array.view(np.ndarray) if isinstance(array, np.memmap) else array


def _pad(array: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate([array, np.zeros(size - len(array), dtype=array.dtype)])


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, target)


def from_rows(rows: Iterable[tuple[int, str, str]]) -> BM25Index:
    """An index of (chunk id, title, text) rows in ascending id order."""
    ids, texts = [], []
    for chunk_id, title, text in rows:
        ids.append(chunk_id)
        texts.append(chunk_text(title, text))
    return BM25Index.build(ids, texts)
