"""A generation's vector index: exact while small, IVF (approximate) once large.

Exact inner-product search (`IndexIDMap2(IndexFlatIP)`) reads every vector per query: about
1.5 ms at 10k vectors and 15 ms at 100k on one core, 150 ms and 1.5 GB at 1M. From
`ann_min_vectors` on, a generation holds an IVF index instead: a k-means coarse quantiser
splits the vectors into `nlist` lists and a query scans only the `ann_nprobe` nearest lists.
IVF rather than HNSW because articles are removed and re-indexed all the time: FAISS's IVF
supports `add_with_ids` and `remove_ids`, HNSW cannot remove. The list codec is
`ann_codec` (SQ8: one byte per dimension, a quarter of float32; Flat: exact floats).

The quantiser is trained on the generation's own vectors when it first crosses the threshold,
and again when the index has grown `ann_retrain_growth` times beyond the size it was trained
on: with a fixed `nlist` the lists (and so the scan per query) grow linearly with the
collection, while `nlist ~ 2 sqrt(n)` keeps them at `sqrt(n) / 2`, and centroids fitted to
last year's articles fit this year's less well. Below half the threshold a generation goes back
to exact search (the gap keeps a collection hovering at the threshold from retraining on every
build). What a generation was trained on is kept beside the vectors in `dense.json`.

A loaded IVF index is memory-mapped (`IO_FLAG_MMAP`): opening reads the quantiser and list
sizes, not the lists, so open time and resident memory do not grow with the collection; the
page cache holds what queries touch. A generation folder is never changed once published, so
the mapping stays valid. Changes to a large index are kept beside the lists (`DenseIndex`): the
next generation hard-links the lists and writes only what changed.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

from qa.settings import Settings

Codec = Literal["SQ8", "Flat"]
INDEX_FILE = "dense.faiss"
INFO_FILE = "dense.json"
DELTA_FILE = "dense-delta.faiss"  # vectors added since the IVF lists were written
REMOVED_FILE = "dense-removed.npy"  # ids removed from the IVF lists since
#: at most this many vectors per centroid train the quantiser (k-means cost is linear in it;
#: FAISS asks for at least 39 per centroid)
TRAIN_PER_CENTROID = 64


@dataclass(frozen=True)
class DenseParams:
    """When and how a generation switches to approximate search (mirrors `Settings.ann_*`)."""

    min_vectors: int = 100_000
    nprobe: int = 64
    codec: Codec = "Flat"
    retrain_growth: float = 2.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DenseParams:
        return cls(settings.ann_min_vectors, settings.ann_nprobe, settings.ann_codec,
                   settings.ann_retrain_growth)


@dataclass(frozen=True)
class DenseInfo:
    """What a generation's vector index is: `exact`, or `ivf` with its quantiser's training."""

    kind: Literal["exact", "ivf"] = "exact"
    nlist: int = 0
    codec: str = ""
    trained_on: int = 0  # vectors in the index when the quantiser was trained


def nlist_for(n: int) -> int:
    """Lists for `n` vectors: 2 sqrt(n), so a list holds about sqrt(n) / 2 vectors."""
    return max(16, round(2 * math.sqrt(n)))


def new_exact(dimension: int) -> faiss.IndexIDMap2:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def read_info(folder: Path) -> DenseInfo:
    """The generation's `dense.json`; a generation written before it existed is exact."""
    try:
        return DenseInfo(**json.loads((folder / INFO_FILE).read_text()))
    except FileNotFoundError:
        return DenseInfo()


def load(folder: Path, *, mmap: bool = True) -> DenseIndex:
    """Read a generation's vectors: IVF lists memory-mapped (`mmap`), exact ones read whole.

    A writer that must fold changes into the IVF lists reads them with `mmap=False`.
    """
    info = read_info(folder)
    path = folder / INDEX_FILE
    if mmap and info.kind == "ivf":
        size = path.stat().st_size  # a truncated file must fail here, not fault on a query
        main = faiss.read_index(str(path), faiss.IO_FLAG_MMAP)
        ivf = faiss.extract_index_ivf(main)
        invlists = _lists(ivf)
        entries = sum(int(invlists.list_size(i)) for i in range(ivf.nlist))
        needed = entries * (int(invlists.code_size) + 8)
        if needed > size:
            raise ValueError(f"{INDEX_FILE} is {size} bytes, its lists need {needed}")
    else:
        main = faiss.read_index(str(path))
    delta: faiss.IndexIDMap2 | None = None
    if (folder / DELTA_FILE).is_file():
        read = faiss.read_index(str(folder / DELTA_FILE))
        if not isinstance(read, faiss.IndexIDMap2):
            raise ValueError(f"{DELTA_FILE} is not an exact index")
        delta = read
    removed = np.load(folder / REMOVED_FILE) if (folder / REMOVED_FILE).is_file() else None
    return DenseIndex(main, info, delta, removed, source=folder)


class DenseIndex:
    """A generation's vectors: the main index (exact, or IVF) and, beside an IVF index, the
    changes since its lists were written: an exact `delta` of added vectors and the `removed`
    ids. A change then writes kilobytes instead of rewriting the lists (1.5 GB at a million
    float32 vectors): the main file is hard-linked into the next generation. The changes are
    folded into the lists once scanning them costs as much as the IVF scan itself.
    """

    def __init__(
        self, main: faiss.Index, info: DenseInfo, delta: faiss.IndexIDMap2 | None = None,
        removed: np.ndarray | None = None, source: Path | None = None,
    ) -> None:
        self.main = main
        self.info = info
        self.delta = delta if delta is not None else new_exact(int(main.d))
        self.removed = removed if removed is not None else np.zeros(0, dtype="int64")
        self.source = source  # where `main` was read from, while it is unchanged

    @classmethod
    def empty(cls, dimension: int) -> DenseIndex:
        return cls(new_exact(dimension), DenseInfo())

    @property
    def ntotal(self) -> int:
        return int(self.main.ntotal) - len(self.removed) + int(self.delta.ntotal)

    @property
    def d(self) -> int:
        return int(self.main.d)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if self.info.kind == "exact":
            self.main.add_with_ids(vectors, ids)
            self.source = None
        else:
            self.delta.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> None:
        """Remove chunk ids (each must be in the index)."""
        if self.info.kind == "exact":
            self.main.remove_ids(ids)  # type: ignore[arg-type]
            self.source = None
            return
        in_delta = np.isin(ids, faiss.vector_to_array(self.delta.id_map))
        if in_delta.any():
            self.delta.remove_ids(ids[in_delta])  # type: ignore[arg-type]
        self.removed = np.union1d(self.removed, ids[~in_delta]).astype("int64")

    def search(
        self, vector: np.ndarray, n: int, allowed: set[int] | None, nprobe: int
    ) -> list[tuple[int, float]]:
        """Top-n (id, inner product), optionally among `allowed` ids only."""
        if self.ntotal == 0:
            return []
        query = vector.reshape(1, -1)
        wanted = None if allowed is None else np.fromiter(allowed, dtype="int64")
        hits = _search(self.main, query, n, wanted, nprobe, self.removed)
        if self.delta.ntotal:
            hits += _search(self.delta, query, n, wanted, nprobe, None)
            hits.sort(key=lambda hit: -hit[1])
        return hits[:n]

    def prepare(self, params: DenseParams) -> None:
        """Bring it to what a generation of this size should publish: exact, IVF, a retrained
        IVF, or the changes folded into the lists."""
        n = self.ntotal
        kind = self.info.kind
        if kind == "exact" and n < params.min_vectors:
            return
        if kind == "ivf" and n < params.min_vectors // 2:
            ids, vectors = self.vectors()
            self.main, self.info = new_exact(self.d), DenseInfo()
            if n:
                self.main.add_with_ids(vectors, ids)
        elif kind == "exact" or n > params.retrain_growth * max(self.info.trained_on, 1) or (
                self.info.codec != params.codec):
            self.main, self.info = train_ivf(*self.vectors(), params)
        elif self.delta.ntotal + len(self.removed) > _scan_size(self.main, params.nprobe):
            self._fold()
        else:
            return
        self.delta, self.removed, self.source = new_exact(self.d), _no_ids(), None

    def _fold(self) -> None:
        if self.source is not None:  # a mapped index is read-only: read the lists
            self.main = faiss.read_index(str(self.source / INDEX_FILE))
        if len(self.removed):
            self.main.remove_ids(self.removed)  # type: ignore[arg-type]
        if self.delta.ntotal:
            ids, vectors = _exact_vectors(self.delta)
            self.main.add_with_ids(vectors, ids)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every live vector, ids ascending."""
        ids, vectors = all_vectors(self.main)
        if len(self.removed):
            keep = ~np.isin(ids, self.removed)
            ids, vectors = ids[keep], vectors[keep]
        if self.delta.ntotal:
            more_ids, more = _exact_vectors(self.delta)
            ids, vectors = np.concatenate([ids, more_ids]), np.concatenate([vectors, more])
            order = np.argsort(ids, kind="stable")
            ids, vectors = ids[order], vectors[order]
        return ids, vectors

    def save(self, folder: Path) -> None:
        """Write into `folder`: the main file hard-linked while unchanged, else written."""
        target = folder / INDEX_FILE
        if self.source is not None:
            try:
                os.link(self.source / INDEX_FILE, target)
            except OSError:  # another file system, or links not allowed
                shutil.copy2(self.source / INDEX_FILE, target)
        else:
            faiss.write_index(self.main, str(target))
        if self.delta.ntotal:
            faiss.write_index(self.delta, str(folder / DELTA_FILE))
        if len(self.removed):
            np.save(folder / REMOVED_FILE, self.removed)
        (folder / INFO_FILE).write_text(json.dumps(asdict(self.info)))


def _no_ids() -> np.ndarray:
    return np.zeros(0, dtype="int64")


def _scan_size(main: faiss.Index, nprobe: int) -> int:
    """Vectors an IVF query scans: the delta may grow to as many before it is folded in."""
    ivf = faiss.extract_index_ivf(main)
    return int(main.ntotal) * min(nprobe, ivf.nlist) // max(ivf.nlist, 1)


def train_ivf(
    ids: np.ndarray, vectors: np.ndarray, params: DenseParams, seed: int = 0
) -> tuple[faiss.Index, DenseInfo]:
    """An IVF index trained on a sample of `vectors`, holding all of them under `ids`."""
    n, dimension = vectors.shape
    nlist = nlist_for(n)
    index = faiss.index_factory(dimension, f"IVF{nlist},{params.codec}", faiss.METRIC_INNER_PRODUCT)
    sample = vectors
    if n > TRAIN_PER_CENTROID * nlist:
        rows = np.random.default_rng(seed).choice(n, TRAIN_PER_CENTROID * nlist, replace=False)
        sample = vectors[np.sort(rows)]
    ivf = faiss.extract_index_ivf(index)
    ivf.cp.max_points_per_centroid = TRAIN_PER_CENTROID
    ivf.nprobe = params.nprobe  # saved with it: the default for code that searches it directly
    index.train(np.ascontiguousarray(sample, dtype="float32"))
    for start in range(0, n, 200_000):  # bounded temporary memory while encoding
        index.add_with_ids(vectors[start:start + 200_000], ids[start:start + 200_000])
    return index, DenseInfo("ivf", nlist, params.codec, n)


def all_vectors(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of every vector of one FAISS index (exact or IVF), ids ascending for IVF.

    From SQ8 lists the vectors come back decoded (cosine to the original about 0.9999).
    """
    n, dimension = int(index.ntotal), int(index.d)
    if n == 0:
        return _no_ids(), np.zeros((0, dimension), dtype="float32")
    if isinstance(index, faiss.IndexIDMap2):
        return _exact_vectors(index)
    ivf = faiss.extract_index_ivf(index)
    invlists = _lists(ivf)
    parts = []
    for lst in range(ivf.nlist):
        size = invlists.list_size(lst)
        if size:
            parts.append(faiss.rev_swig_ptr(invlists.get_ids(lst), size).copy())
    ids = np.concatenate(parts).astype("int64")
    ids.sort()
    direct_map = faiss.DirectMap  # type: ignore[attr-defined]  # missing from the stubs
    ivf.set_direct_map_type(direct_map.Hashtable)  # reconstruct by id needs a direct map
    try:
        vectors = index.reconstruct_batch(ids)
    finally:
        ivf.set_direct_map_type(direct_map.NoMap)  # remove_ids and add stay cheap without
    return ids, vectors


def _lists(ivf: faiss.IndexIVF) -> faiss.InvertedLists:
    invlists = ivf.invlists
    if invlists is None:
        raise ValueError("IVF index without inverted lists")
    return invlists


def _search(
    index: faiss.Index, query: np.ndarray, n: int, wanted: np.ndarray | None, nprobe: int,
    removed: np.ndarray | None,
) -> list[tuple[int, float]]:
    """Top-n (id, score) of one FAISS index, among `wanted` ids only and never `removed` ones.

    With a filter, IVF probes `nprobe / share` lists, the share being the part of the index the
    filter keeps: about as many allowed vectors are scanned as an unfiltered query scans, and a
    narrow filter (a source, a week) scans every list, i.e. searches its vectors exactly.
    """
    total = int(index.ntotal)
    if total == 0:
        return []
    keep: list[faiss.IDSelector] = []  # the selectors must outlive the search
    if wanted is not None:
        if removed is not None and len(removed):
            wanted = np.setdiff1d(wanted, removed)
        keep.append(faiss.IDSelectorBatch(wanted))
    elif removed is not None and len(removed):
        keep.append(faiss.IDSelectorBatch(removed))
        keep.append(faiss.IDSelectorNot(keep[0]))
    sel = keep[-1] if keep else None
    params: faiss.SearchParameters | None = None
    if not isinstance(index, faiss.IndexIDMap2):
        nlist = int(faiss.extract_index_ivf(index).nlist)
        probe = nprobe
        if wanted is not None:
            probe = math.ceil(nprobe * total / max(len(wanted), 1))
        params = faiss.SearchParametersIVF(  # type: ignore[call-arg]  # the stubs lack kwargs
            sel=sel, nprobe=min(nlist, max(1, probe)))
    elif sel is not None:
        params = faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]
    scores, ids = index.search(query, min(n, total), params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def _exact_vectors(index: faiss.IndexIDMap2) -> tuple[np.ndarray, np.ndarray]:
    ids = faiss.vector_to_array(index.id_map).astype("int64")
    return ids, index.index.reconstruct_n(0, int(index.ntotal))
