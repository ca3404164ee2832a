"""Save and load a kernel's namespace. Runs INSIDE the sandbox kernel, never on the host.

The host sends this file's text to the kernel (`runpad.agents.snapshot`), which installs it
as the module `_runpad_kernel`, outside the user's namespace. The host only ever copies the
snapshot file as bytes and checks its hash: unpickling model-written data happens here,
inside the sandbox, and nowhere else.

A snapshot holds what a later cell could read from the kernel:
- the user's variables (IPython's own names and the modules it starts with left out), with
  cloudpickle, pickle protocol 5 (numpy arrays and data frames as raw buffers), all in one
  pickle so that two names for one object stay one object;
- modules bound to names, as their import names (imported again on load);
- functions keep the user namespace as their globals, so a function defined before the
  snapshot sees variables assigned after it, as it did before;
- the process state cells commonly change: the working directory, environment variables,
  `sys.path`, warning filters, the `random` and numpy global generators, pandas options
  and matplotlib's rcParams;
- a manifest of the work dir (path, size, sha256, mode), which the host restores from its
  copies of the files: the snapshot does not carry the files.

Whatever else a cell changed inside an imported module is not in it; a variable that
cannot be pickled (an open file, a generator, a lock) makes `snapshot` refuse, naming it.
Every call prints one line, `MARKER` followed by a JSON object, for the host to read.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import pickle
import platform
import random
import re
import stat
import sys
import types
import warnings
from typing import Any

FORMAT = 1
MAGIC = b"RUNPADNS"
MARKER = "__runpad_snapshot__ "
RUNPAD_DIR = ".runpad"

_INTERNAL_NAME = re.compile(r"_+|_i+|_i?\d+|_(?:oh|ih|dh)|__\w+__")
_OWN_HOME_DIRS = (".ipython", ".config", ".cache", ".local")
_HASHES: dict[str, tuple[int, int, int, str]] = {}  # path -> (size, mtime_ns, inode, sha256)


class _TooLarge(Exception):
    pass


class _BoundedFile(io.RawIOBase):
    """A file that hashes what is written and refuses to grow past `limit` bytes."""

    def __init__(self, handle: Any, limit: int) -> None:
        self._handle = handle
        self._limit = limit
        self.size = 0
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.size += len(view)
        if self.size > self._limit:
            raise _TooLarge
        self.digest.update(view)
        self._handle.write(view)
        return len(view)


class _UserNamespace(dict):  # type: ignore[type-arg]
    """Stands for the kernel's user namespace in a pickle; loads as the loading kernel's."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (user_namespace, ())


def user_namespace() -> dict[str, Any]:
    """The user namespace of the running IPython kernel."""
    shell = _shell()
    return shell.user_ns  # type: ignore[no-any-return]


def _shell() -> Any:
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("not running in an IPython kernel")
    return shell


def _report(**fields: Any) -> None:
    print(MARKER + json.dumps(fields, default=str), flush=True)


def _versions() -> dict[str, Any]:
    try:
        import cloudpickle
    except ImportError:
        cloudpickle = None
    return {
        "format": FORMAT,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cloudpickle": getattr(cloudpickle, "__version__", None),
    }


# -- what is saved -------------------------------------------------------------------------------


def _user_variables(shell: Any) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(variables, modules by name, problems) of the user namespace."""
    hidden = shell.user_ns_hidden
    variables: dict[str, Any] = {}
    modules: dict[str, str] = {}
    problems: list[str] = []
    for name, value in list(shell.user_ns.items()):
        if _INTERNAL_NAME.fullmatch(name) or (name in hidden and hidden[name] is value):
            continue
        if isinstance(value, types.ModuleType):
            module_name = getattr(value, "__name__", None)
            if not module_name or sys.modules.get(module_name) is not value:
                problems.append(f"`{name}` is a module that cannot be imported again")
            else:
                modules[name] = module_name
            continue
        variables[name] = value
    return variables, modules, problems


def _process_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "cwd": os.getcwd(),
        "environ": dict(os.environ),
        "sys_path": list(sys.path),
        "warnings": list(warnings.filters),
        "random": random.getstate(),
    }
    if "numpy" in sys.modules:
        import numpy

        state["numpy_random"] = numpy.random.get_state()
    if "pandas" in sys.modules:
        from pandas._config import config

        state["pandas_options"] = config._global_config
    if "matplotlib" in sys.modules:
        import matplotlib

        state["rcparams"] = {
            key: value for key, value in dict.items(matplotlib.rcParams) if key != "backend"
        }
    return state


def _work_dir_manifest(root: str) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(files, empty directories, problems) of the work dir, relative to `root`."""
    files: list[dict[str, Any]] = []
    directories: list[str] = []
    problems: list[str] = []
    seen: set[str] = set()
    for directory, dirnames, filenames in os.walk(root):
        relative_dir = os.path.relpath(directory, root)
        if relative_dir == RUNPAD_DIR or relative_dir.startswith(RUNPAD_DIR + os.sep):
            dirnames[:] = []
            continue
        if relative_dir != "." and not filenames and not dirnames:
            directories.append(relative_dir)
        for entry in dirnames + filenames:
            path = os.path.join(directory, entry)
            relative = os.path.normpath(os.path.join(relative_dir, entry))
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                problems.append(f"the work dir holds a link, {relative}, which is not restored")
            elif stat.S_ISREG(info.st_mode):
                seen.add(path)
                files.append(
                    {
                        "name": relative,
                        "size": info.st_size,
                        "sha256": _file_hash(path, info),
                        "mode": stat.S_IMODE(info.st_mode),
                    }
                )
    for path in set(_HASHES) - seen:
        del _HASHES[path]
    return files, directories, problems


def _file_hash(path: str, info: os.stat_result) -> str:
    """The file's sha256, computed again only when its size, mtime or inode changed."""
    key = (info.st_size, info.st_mtime_ns, info.st_ino)
    cached = _HASHES.get(path)
    if cached is not None and cached[:3] == key:
        return cached[3]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    _HASHES[path] = (*key, digest.hexdigest())
    return digest.hexdigest()


def _files_outside(private_dirs: list[str]) -> list[str]:
    """Files that cells wrote in the session's private /tmp and home, which no snapshot
    carries (IPython's and matplotlib's own directories left out)."""
    found = []
    for top in private_dirs:
        for directory, dirnames, filenames in os.walk(top):
            if directory == os.path.expanduser("~"):
                dirnames[:] = [name for name in dirnames if name not in _OWN_HOME_DIRS]
            found += [os.path.join(directory, name) for name in filenames]
    if not found:
        return []
    shown = ", ".join(sorted(found)[:3]) + (", ..." if len(found) > 3 else "")
    return [f"cells wrote files outside the work dir ({shown}), which a snapshot does not carry"]


def _work_root(shell: Any) -> str:
    # IPython's directory history starts with the directory the kernel started in, which
    # is the work dir; os.getcwd() may have moved since.
    history = shell.user_ns.get("_dh") or [os.getcwd()]
    return str(history[0])


def _estimated_sizes(variables: dict[str, Any]) -> dict[str, int]:
    """Cheap sizes of the big containers (arrays, data frames), without pickling them."""
    sizes = {}
    for name, value in variables.items():
        nbytes = getattr(value, "nbytes", None)
        if isinstance(nbytes, int):
            sizes[name] = nbytes
        elif type(value).__name__ in ("DataFrame", "Series") and hasattr(value, "memory_usage"):
            try:
                usage = value.memory_usage(index=True, deep=False)
                sizes[name] = int(usage.sum() if hasattr(usage, "sum") else usage)
            except Exception:
                continue
    return sizes


def _pickled_size(value: Any, limit: int) -> int:
    """Bytes `value` pickles to, counted up to `limit` + 1 (not kept anywhere)."""
    import cloudpickle

    sink = _BoundedFile(_Discard(), limit)
    try:
        cloudpickle.Pickler(sink, protocol=5).dump(value)
    except _TooLarge:
        return limit + 1
    return sink.size


class _Discard:
    def write(self, data: Any) -> int:
        return len(data)


def _unpicklable(variables: dict[str, Any]) -> list[str]:
    """Which variables fail to pickle on their own, and why (only run once a dump failed)."""
    import cloudpickle

    found = []
    for name, value in variables.items():
        try:
            cloudpickle.Pickler(_Discard(), protocol=5).dump(value)
        except Exception as exc:
            found.append(f"`{name}` ({type(value).__name__}) cannot be saved: {_reason(exc)}")
    return found


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def _size_problem(variables: dict[str, Any], limit: int, sizes: dict[str, int]) -> str:
    if not sizes:
        sizes = {name: _pickled_size(value, limit) for name, value in variables.items()}
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:3]
    names = ", ".join(f"`{name}` (about {_megabytes(size)})" for name, size in largest)
    return (
        f"the variables are larger than the snapshot limit of {_megabytes(limit)}; the largest: "
        f"{names}"
    )


def _megabytes(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def snapshot(name: str, limit: int, private_dirs: list[str]) -> None:
    """Pickle the namespace to `name` in the work dir (at most `limit` bytes); report it.

    `private_dirs` are the session's own directories outside the work dir (/tmp, home):
    a file there makes the snapshot refuse, since only the work dir is restored.
    """
    try:
        import cloudpickle
    except ImportError:
        _report(ok=False, problem="cloudpickle is not installed in the sandbox environment")
        return
    shell = _shell()
    variables, modules, problems = _user_variables(shell)
    files, directories, file_problems = _work_dir_manifest(_work_root(shell))
    problems += file_problems + _files_outside(private_dirs)
    if problems:
        _report(ok=False, problem="; ".join(problems))
        return
    sizes = _estimated_sizes(variables)
    if sum(sizes.values()) > limit:
        _report(ok=False, problem=_size_problem(variables, limit, sizes))
        return
    header = json.dumps(_versions()).encode()
    path = os.path.join(_work_root(shell), name)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        with open(path, "wb") as handle:
            target = _BoundedFile(handle, limit)
            target.write(MAGIC + len(header).to_bytes(4, "big") + header)
            pickler = cloudpickle.Pickler(target, protocol=5)
            # Functions defined in the kernel keep the user namespace as their globals:
            # without this, each would load with a private copy of the globals it read.
            pickler.globals_ref[id(shell.user_ns)] = _UserNamespace()
            pickler.dump({"variables": variables, "modules": modules, "process": _process_state()})
    except _TooLarge:
        os.unlink(path)
        _report(ok=False, problem=_size_problem(variables, limit, {}))
        return
    except Exception as exc:
        os.unlink(path)
        found = _unpicklable(variables) or [f"the namespace cannot be saved: {_reason(exc)}"]
        _report(ok=False, problem="; ".join(found))
        return
    _report(
        ok=True,
        sha256=target.digest.hexdigest(),
        size=target.size,
        variables=sorted(variables),
        files=files,
        directories=directories,
        **_versions(),
    )


# -- loading -------------------------------------------------------------------------------------


def restore(name: str, sha256: str, limit: int, directories: str, modes: str) -> None:
    """Load the snapshot `name` of the work dir into this kernel, once its hash and versions
    are checked.

    `directories` (a JSON list) are made again, and `modes` (JSON, name -> mode) applied to
    the work dir files the host put back. On `ok: false` the kernel may hold part of the
    snapshot: the host throws it away and starts over.
    """
    shell = _shell()
    root = _work_root(shell)
    path = os.path.join(root, name)
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    os.unlink(path)
    if len(data) > limit or hashlib.sha256(data).hexdigest() != sha256:
        _report(ok=False, problem="the snapshot file in the kernel does not match its hash")
        return
    if not data.startswith(MAGIC):
        _report(ok=False, problem="the file is not a runpad snapshot")
        return
    start = len(MAGIC) + 4
    end = start + int.from_bytes(data[len(MAGIC) : start], "big")
    made_by = json.loads(data[start:end])
    here = _versions()
    if made_by != here:
        differences = ", ".join(
            f"{key} {made_by.get(key)} (this kernel has {here[key]})"
            for key in here
            if made_by.get(key) != here[key]
        )
        _report(ok=False, problem=f"it was made with {differences}")
        return
    namespace = shell.user_ns
    try:
        builtins_ = namespace.get("__builtins__")
        saved = pickle.loads(memoryview(data)[end:])
        for name, module_name in saved["modules"].items():
            namespace[name] = importlib.import_module(module_name)
        namespace.update(saved["variables"])
        if builtins_ is not None:  # cloudpickle sets its own while it loads functions
            namespace["__builtins__"] = builtins_
        for directory in json.loads(directories):
            os.makedirs(os.path.join(root, directory), exist_ok=True)
        for name, mode in json.loads(modes).items():
            os.chmod(os.path.join(root, name), mode)
        _restore_process_state(saved["process"])
    except Exception as exc:
        _report(ok=False, problem=f"loading it failed: {_reason(exc)}")
        return
    _report(ok=True, variables=sorted(saved["variables"]))


def _restore_process_state(state: dict[str, Any]) -> None:
    os.chdir(state["cwd"])
    os.environ.clear()
    os.environ.update(state["environ"])
    sys.path[:] = state["sys_path"]
    warnings.filters[:] = state["warnings"]
    warnings._filters_mutated()  # type: ignore[attr-defined]
    random.setstate(state["random"])
    if "numpy_random" in state:
        import numpy

        numpy.random.set_state(state["numpy_random"])
    if "pandas_options" in state:
        from pandas._config import config

        _merge(config._global_config, state["pandas_options"])
    if "rcparams" in state:
        import matplotlib

        dict.update(matplotlib.rcParams, state["rcparams"])


def _merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value
