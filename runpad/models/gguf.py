"""Reading a GGUF file's metadata (its key-value header) without loading the model.

runpad checks a model file before llama.cpp sees it: that it is a GGUF file at all, and
that it is the model it claims to be (`general.architecture`, `general.name`). The header
is parsed here in Python, with every length checked against the file's size, so a
truncated or foreign file is reported as such rather than handed to C code.

Format (little-endian; https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): the
magic `GGUF`, a uint32 version, uint64 tensor and key-value counts, then the key-value
pairs: a string key (uint64 length, UTF-8 bytes), a uint32 value type, the value. Arrays
(the tokenizer's vocabulary) are skipped; only their lengths are kept.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

__all__ = ["GgufError", "GgufMetadata", "read_gguf_metadata"]

_MAGIC = b"GGUF"
_SCALARS: dict[int, str] = {
    0: "<B",  # uint8
    1: "<b",  # int8
    2: "<H",  # uint16
    3: "<h",  # int16
    4: "<I",  # uint32
    5: "<i",  # int32
    6: "<f",  # float32
    7: "<?",  # bool
    10: "<Q",  # uint64
    11: "<q",  # int64
    12: "<d",  # float64
}
_STRING = 8
_ARRAY = 9

Scalar = str | int | float | bool


class GgufError(ValueError):
    """The file is not a readable GGUF file (wrong magic, truncated, malformed header)."""


@dataclass(frozen=True)
class GgufMetadata:
    """A GGUF file's header: its version, tensor count, scalar values and array lengths."""

    version: int
    tensor_count: int
    values: dict[str, Scalar] = field(default_factory=dict)
    array_lengths: dict[str, int] = field(default_factory=dict)

    def text(self, key: str) -> str | None:
        """The string value of `key`, or None when it is absent or not a string."""
        value = self.values.get(key)
        return value if isinstance(value, str) else None

    def integer(self, key: str) -> int | None:
        """The integer value of `key`, or None when it is absent or not an integer."""
        value = self.values.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_gguf_metadata(path: str | Path) -> GgufMetadata:
    """The metadata of the GGUF file at `path`.

    Raises:
        GgufError: the file is not GGUF, is truncated, or its header is malformed.
        OSError: the file cannot be opened or read.
    """
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as handle:
        reader = _Reader(handle, size, path)
        if reader.read(4) != _MAGIC:
            raise GgufError(f"{path} is not a GGUF file (it does not start with 'GGUF').")
        version = int(reader.scalar(4))
        if version not in (2, 3):
            raise GgufError(f"{path} is GGUF version {version}; llama.cpp reads versions 2 and 3.")
        tensor_count = reader.count()
        pair_count = reader.count()
        # Every pair takes at least 12 bytes: a count beyond that is a corrupt header.
        if pair_count > size // 12:
            raise GgufError(f"{path}: the header claims {pair_count} metadata entries.")
        metadata = GgufMetadata(version=version, tensor_count=tensor_count)
        for _ in range(pair_count):
            key = reader.string()
            kind = int(reader.scalar(4))
            if kind == _ARRAY:
                metadata.array_lengths[key] = reader.skip_array()
            else:
                metadata.values[key] = reader.value(kind)
    return metadata


class _Reader:
    """Reads a GGUF header, checking every length against what is left of the file."""

    def __init__(self, handle: BinaryIO, size: int, path: Path) -> None:
        self._handle = handle
        self._left = size
        self._path = path

    def read(self, count: int) -> bytes:
        data = self._handle.read(count) if count <= self._left else b""
        if len(data) != count:
            raise GgufError(f"{self._path} ends inside its GGUF header (truncated?).")
        self._left -= count
        return data

    def count(self) -> int:
        """A uint64 length or count."""
        return int(self.scalar(10))

    def scalar(self, kind: int) -> Scalar:
        fmt = _SCALARS.get(kind)
        if fmt is None:
            raise GgufError(f"{self._path}: unknown GGUF value type {kind}.")
        value: Scalar = struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]
        return value

    def string(self) -> str:
        length = self.count()
        try:
            return self.read(length).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GgufError(f"{self._path}: a GGUF key or value is not UTF-8.") from exc

    def value(self, kind: int) -> Scalar:
        return self.string() if kind == _STRING else self.scalar(kind)

    def skip_array(self) -> int:
        kind = int(self.scalar(4))
        count = self.count()
        if kind == _STRING:
            for _ in range(count):
                self.read(self.count())
        elif kind == _ARRAY:
            for _ in range(count):
                self.skip_array()
        else:
            fmt = _SCALARS.get(kind)
            if fmt is None:
                raise GgufError(f"{self._path}: unknown GGUF array type {kind}.")
            self.read(struct.calcsize(fmt) * count)
        return count
