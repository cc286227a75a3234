"""Dense and BM25 search over chunks in one Milvus collection (a cluster or Milvus Lite).

Why the text is stemmed here, not in Milvus: Milvus Lite knows only the `standard` and `jieba`
analyzers and silently ignores a stemmer filter, so "Forderungen" would never find
"Forderung". Each chunk's text (its article's title, a newline, the chunk) is therefore run
through `qa.bm25.analyze` (lowercase + Snowball German) and stored as the space-joined stems in
`text`, a VARCHAR with the `standard` analyzer, which only splits them again; a query is stemmed
the same way. Milvus' BM25 function turns `text` into the sparse vector `sparse`
(SPARSE_INVERTED_INDEX, metric BM25, bm25_k1=1.5 and bm25_b=0.75 as in `qa.bm25`). Milvus Lite
3.2 accepts but ignores those two (pymilvus 3 sends them as top-level index parameters, Lite reads
only a nested "params"); its defaults are the same values. Lite's scores are then `qa.bm25`'s
times k1 + 1 = 2.5, the same ranking, while all rows are in its memtable and no filter is set;
a filter makes Lite compute the statistics over the filtered memtable rows only, and once it
has flushed segments (128 MiB of rows) it keeps statistics per segment, so rankings drift apart.

The schema stores, per chunk (`chunk_id`, INT64, the primary key, not auto-generated):
`vector` (FLOAT_VECTOR, metric COSINE: the inner product of normalised vectors), `article_id`,
`text`/`sparse` (above), and what the search filters read, so that a filter is an expression
evaluated in Milvus and reproduces `qa.store._filter_sql` exactly:

- `sources`: ARRAY<VARCHAR> of the "/"-separated agency names, lowercased as SQLite's `lower()`
  does (ASCII letters only), searched with `array_contains`; `source_key`, "/" + that lowercased
  source + "/" ("" when there is none), is searched with `like` when the wanted source holds a
  "/" or a LIKE wildcard ("%", "_"), which the SQL pattern treats as such.
- `dated` (BOOL), `date_lo` (the ISO prefix: "2021-12" or "2021-12-08"; "" when undated) and
  `date_hi` (the prefix + U+FFFF, so that a month overlaps its days on either side, as in the
  SQL). Milvus compares VARCHARs as byte strings, SQLite too, and UTF-8 byte order is code
  point order, so `date_hi >= from` and `date_lo <= to + U+FFFF` are the SQL's comparisons.

Milvus Lite (pymilvus 3 / milvus-lite 3.2) supports no `filter_params` templates (its parser
rejects "{name}"), so values are written into expressions as escaped string literals.

Consistency: the collection is created with, and every search and count asks for, consistency
level "Strong", so results reflect the last add and remove without a flush. BM25 distances are
read as positive scores (Lite reports them negated).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from qa.bm25 import K1, B, analyze

if TYPE_CHECKING:
    from pymilvus import MilvusClient

PK = "chunk_id"
VECTOR = "vector"
TEXT = "text"
SPARSE = "sparse"
FIELDS = (PK, "article_id", VECTOR, TEXT, SPARSE, "sources", "source_key", "dated",
          "date_lo", "date_hi")
BATCH = 1_000
CONSISTENCY = "Strong"
DATE_PAD = "\uffff"  # sorts after every character an ISO date holds, as in qa.store
MAX_TOPK = 16_384  # Milvus' limit on a search's limit
# VARCHAR limits are bytes of UTF-8
TEXT_BYTES = 65_535
ID_BYTES = 512
NAME_BYTES = 512
MAX_NAMES = 64
KEY_BYTES = 8_192
DATE_BYTES = 64
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_LITERAL_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r",
                                  "\t": "\\t"})
_LIKE_SPECIAL = ("/", "%", "_")


@dataclass(frozen=True)
class MilvusRow:
    """What the collection holds of a chunk besides its vector."""

    article_id: str
    source: str | None  # may hold several agencies separated by "/", e.g. "AFP/dpa"
    date: str | None  # ISO prefix: "2021-12-08" (a day) or "2021-12" (a month), or None
    text: str  # what lexical search reads: the article title, "\n", the chunk text


@dataclass(frozen=True)
class Where:
    """Search filters, with the semantics of `qa.store._filter_sql`."""

    source: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    include_undated: bool = False


class WhereLike(Protocol):
    """Anything with `Where`'s fields (`qa.schema.Filters` too)."""

    @property
    def source(self) -> str | None: ...

    @property
    def date_from(self) -> str | None: ...

    @property
    def date_to(self) -> str | None: ...

    @property
    def include_undated(self) -> bool: ...


class MilvusIndex:
    """Dense (COSINE/IP on normalised vectors) and BM25 search over chunks, in one Milvus
    collection."""

    def __init__(self, uri: str, collection: str, dimension: int, token: str | None = None,
                 *, index_type: str = "HNSW", ef: int = 256) -> None:
        """Connect; create the collection (and its indexes) if missing, else check it.

        `uri`: a server ("http://localhost:19530") or a Milvus Lite file ("/path/milvus.db").
        `index_type`: the dense index (HNSW, M=16, efConstruction=200; "FLAT" for exact
        search). `ef`: HNSW candidates per query (at least n); with Milvus' default (the limit)
        HNSW lost 0.02 of dense R@5 against exact search on the bench's xquad-de.
        """
        pymilvus = _pymilvus()
        self.ef = int(ef)
        self.uri = uri
        self.collection = collection
        self.dimension = int(dimension)
        self._client: MilvusClient = pymilvus.MilvusClient(uri=uri, token=token or "")
        try:
            if self._client.has_collection(collection):
                self._check_existing()
                self._client.load_collection(collection)
            else:
                self._create(pymilvus, index_type)
        except BaseException:
            self._client.close()
            raise

    # ------------------------------------------------------------------ setup
    def _create(self, pymilvus: Any, index_type: str) -> None:
        data_type = pymilvus.DataType
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(PK, data_type.INT64, is_primary=True)
        schema.add_field("article_id", data_type.VARCHAR, max_length=ID_BYTES)
        schema.add_field(VECTOR, data_type.FLOAT_VECTOR, dim=self.dimension)
        schema.add_field(TEXT, data_type.VARCHAR, max_length=TEXT_BYTES, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        schema.add_field(SPARSE, data_type.SPARSE_FLOAT_VECTOR)
        schema.add_field("sources", data_type.ARRAY, element_type=data_type.VARCHAR,
                         max_capacity=MAX_NAMES, max_length=NAME_BYTES)
        schema.add_field("source_key", data_type.VARCHAR, max_length=KEY_BYTES)
        schema.add_field("dated", data_type.BOOL)
        schema.add_field("date_lo", data_type.VARCHAR, max_length=DATE_BYTES)
        schema.add_field("date_hi", data_type.VARCHAR, max_length=DATE_BYTES + 4)
        schema.add_function(pymilvus.Function(
            name="text_bm25", function_type=pymilvus.FunctionType.BM25,
            input_field_names=[TEXT], output_field_names=[SPARSE]))
        params = self._client.prepare_index_params()
        hnsw = {"M": 16, "efConstruction": 200} if index_type == "HNSW" else {}
        params.add_index(VECTOR, index_type=index_type, metric_type="COSINE", params=hnsw)
        params.add_index(SPARSE, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                         params={"inverted_index_algo": "TAAT_NAIVE",
                                 "bm25_k1": K1, "bm25_b": B})
        # scalar indexes speed filters up on a server; Lite has none for ARRAY fields
        scalar = ["dated", "date_lo", "date_hi"] + ([] if _is_lite(self.uri) else ["sources"])
        for field in scalar:
            params.add_index(field, index_type="INVERTED")
        self._client.create_collection(self.collection, schema=schema,
                                       consistency_level=CONSISTENCY)
        # sync=False: the collection is empty, and pymilvus would poll each index for 0.5 s
        self._client.create_index(self.collection, params, sync=False)
        self._client.load_collection(self.collection)

    def _check_existing(self) -> None:
        info = self._client.describe_collection(self.collection)
        fields = {f["name"]: f for f in info.get("fields", [])}
        missing = [name for name in FIELDS if name not in fields]
        if missing:
            raise ValueError(f"Milvus collection {self.collection!r} at {self.uri} was not made "
                             f"by MilvusIndex (no field {', '.join(missing)}); drop it or choose "
                             "another collection name")
        dim = int(fields[VECTOR].get("params", {}).get("dim", -1))
        if dim != self.dimension:
            raise ValueError(f"Milvus collection {self.collection!r} at {self.uri} holds "
                             f"{dim}-dimensional vectors, not {self.dimension} (another "
                             "embedding model?); drop it or choose another collection name")

    # ------------------------------------------------------------------ writing
    def add(self, ids: Sequence[int], rows: Sequence[MilvusRow], vectors: np.ndarray) -> None:
        """Insert chunks (an id already here is replaced), in batches of `BATCH`."""
        matrix = np.asarray(vectors, dtype="float32")
        if not len(ids) == len(rows) == len(matrix):
            raise ValueError(f"{len(ids)} ids, {len(rows)} rows and {len(matrix)} vectors")
        if len(ids) and matrix.shape[1:] != (self.dimension,):
            raise ValueError(f"vectors of shape {matrix.shape}, need (n, {self.dimension})")
        for start in range(0, len(ids), BATCH):
            end = start + BATCH
            batch = [_entity(int(i), row, vector) for i, row, vector in
                     zip(ids[start:end], rows[start:end], matrix[start:end].tolist(),
                         strict=True)]
            self._client.upsert(self.collection, batch)

    def remove(self, ids: Sequence[int]) -> None:
        """Delete chunks by id (ids not here are ignored), in batches of `BATCH`."""
        for start in range(0, len(ids), BATCH):
            self._client.delete(self.collection, ids=[int(i) for i in ids[start:start + BATCH]])

    # ------------------------------------------------------------------ reading
    def count(self) -> int:
        """Live rows, exact (strong consistency, no flush needed)."""
        rows = self._client.query(self.collection, filter="", output_fields=["count(*)"],
                                  consistency_level=CONSISTENCY)
        return int(rows[0]["count(*)"])

    def dense(self, vector: np.ndarray, n: int, where: WhereLike | None = None
              ) -> list[tuple[int, float]]:
        """Top-n (chunk_id, cosine similarity), best first."""
        query = np.asarray(vector, dtype="float32").reshape(-1)
        if query.shape != (self.dimension,):
            raise ValueError(f"query vector of {query.size} dimensions, need {self.dimension}")
        return self._search([query.tolist()], VECTOR, "COSINE", n, where)

    def lexical(self, query: str, n: int, where: WhereLike | None = None
                ) -> list[tuple[int, float]]:
        """Top-n (chunk_id, BM25 score > 0), best first; [] when no query term is indexed."""
        terms = analyze(query)
        if not terms:
            return []
        hits = self._search([" ".join(terms)], SPARSE, "BM25", n, where)
        return [(chunk_id, score) for chunk_id, score in hits if score > 0]

    def _search(self, data: list[Any], field: str, metric: str, n: int,
                where: WhereLike | None) -> list[tuple[int, float]]:
        if n <= 0:
            return []
        result = self._client.search(
            self.collection, data=data, anns_field=field, limit=min(n, MAX_TOPK),
            filter=filter_expression(where), output_fields=[PK],
            search_params=self._search_params(metric, n), consistency_level=CONSISTENCY)
        hits = [(int(hit.get(PK, hit.get("id"))), float(hit["distance"])) for hit in result[0]]
        if metric == "BM25":  # a score; Lite negates it into a distance
            hits = [(chunk_id, abs(score)) for chunk_id, score in hits]
        return sorted(hits, key=lambda hit: (-hit[1], hit[0]))  # ties: the older chunk first

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids ascending, vectors) of every row, to copy them elsewhere."""
        iterator = self._client.query_iterator(
            self.collection, batch_size=BATCH, filter="", output_fields=[PK, VECTOR])
        ids: list[int] = []
        vectors: list[list[float]] = []
        try:
            while batch := iterator.next():
                ids += [int(row[PK]) for row in batch]
                vectors += [row[VECTOR] for row in batch]
        finally:
            iterator.close()
        order = np.argsort(np.asarray(ids, dtype="int64"), kind="stable")
        matrix = np.asarray(vectors, dtype="float32").reshape(-1, self.dimension)
        return np.asarray(ids, dtype="int64")[order], matrix[order]

    def flush(self) -> None:
        """Seal what was written into indexed segments: searching rows still in the write
        buffer is a brute-force scan (1.5 s a BM25 query over 7,648 chunks in Lite, 35 ms
        once sealed)."""
        self._client.flush(self.collection)

    def collections(self, prefix: str) -> list[str]:
        """Names of the collections at this uri that start with `prefix`."""
        return sorted(c for c in self._client.list_collections() if c.startswith(prefix))

    def drop_collection(self, name: str) -> None:
        self._client.drop_collection(name)

    def _search_params(self, metric: str, n: int) -> dict[str, Any]:
        if metric == "BM25":
            return {"metric_type": metric}
        return {"metric_type": metric, "params": {"ef": max(self.ef, min(n, MAX_TOPK))}}

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        self._client.close()

    def drop(self) -> None:
        """Drop the collection (the connection stays open)."""
        self._client.drop_collection(self.collection)

    def __enter__(self) -> MilvusIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def filter_expression(where: WhereLike | None) -> str:
    """The Milvus boolean expression for `where` ("" for none): `qa.store._filter_sql`'s rows.

    Known limit: a wanted source holding a "/", "%" or "_" and also a backslash may differ
    (SQLite's LIKE has no escape character; Milvus' may treat the backslash as one).
    """
    if where is None:
        return ""
    clauses = []
    if where.source:
        wanted = where.source.strip().lower()  # Python's lower(), as the SQL's argument
        if any(c in wanted for c in _LIKE_SPECIAL):  # the SQL's LIKE, pattern and all
            clauses.append(f"source_key like {_literal(f'%/{wanted}/%')}")
        else:  # the same rows: `wanted` equals one whole name
            clauses.append(f"array_contains(sources, {_literal(wanted)})")
    dated = []
    if where.date_from:
        dated.append(f"date_hi >= {_literal(where.date_from)}")
    if where.date_to:
        dated.append(f"date_lo <= {_literal(where.date_to + DATE_PAD)}")
    if dated:
        in_range = " and ".join(["dated == true", *dated])
        clauses.append(f"(dated == false or ({in_range}))" if where.include_undated
                       else f"({in_range})")
    return " and ".join(clauses)


def _literal(value: str) -> str:
    """A double-quoted Milvus string literal of `value`."""
    return '"' + value.translate(_LITERAL_ESCAPES) + '"'


def _sql_lower(text: str) -> str:
    """SQLite's lower() without ICU: ASCII letters only."""
    return text.translate(_ASCII_LOWER)


def _entity(chunk_id: int, row: MilvusRow, vector: list[float]) -> dict[str, Any]:
    names = [] if row.source is None else _sql_lower(row.source).split("/")
    key = "" if row.source is None else f"/{_sql_lower(row.source)}/"
    if len(names) > MAX_NAMES or any(_bytes(n) > NAME_BYTES for n in names) or \
            _bytes(key) > KEY_BYTES:
        raise ValueError(f"chunk {chunk_id}: source {row.source!r} is too long for Milvus")
    if row.date is not None and _bytes(row.date) > DATE_BYTES:
        raise ValueError(f"chunk {chunk_id}: date {row.date!r} is too long")
    if _bytes(row.article_id) > ID_BYTES:
        raise ValueError(f"chunk {chunk_id}: article id of over {ID_BYTES} bytes")
    return {
        PK: chunk_id,
        "article_id": row.article_id,
        VECTOR: vector,
        TEXT: _fit(" ".join(analyze(row.text)), TEXT_BYTES),
        "sources": names,
        "source_key": key,
        "dated": row.date is not None,
        "date_lo": row.date or "",
        "date_hi": "" if row.date is None else row.date + DATE_PAD,
    }


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _fit(stems: str, limit: int) -> str:
    """`stems` cut after the last whole token within `limit` UTF-8 bytes (a VARCHAR's size)."""
    data = stems.encode("utf-8")
    if len(data) <= limit:
        return stems
    head = data[:limit + 1].decode("utf-8", errors="ignore")
    if " " not in head:  # one token longer than the field
        return data[:limit].decode("utf-8", errors="ignore")
    return head.rsplit(" ", 1)[0]


def _is_lite(uri: str) -> bool:
    """Whether pymilvus runs `uri` with Milvus Lite (a local file ending in .db)."""
    return uri.endswith(".db") and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri)


def _pymilvus() -> Any:
    # gRPC's own log lines (Milvus Lite answers the client's keep-alive pings with GOAWAY
    # "too_many_pings" every few minutes) would land in the chat server's stderr as "E..."
    # lines; failures still raise from pymilvus. Set GRPC_VERBOSITY to see them again.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        import pymilvus
    except ImportError as exc:
        raise ImportError('Milvus support needs pymilvus (and milvus-lite for a local .db '
                          'file): pip install -e ".[milvus]"') from exc
    return pymilvus
