"""A batch file: one task per line, read and checked whole before anything runs.

Each line of a `.jsonl` batch file is one JSON object:

    {"id": "q1", "task": "What is the 30th prime?", "files": ["data/sales.csv"],
     "databases": {"shop": "postgresql://reader@db/shop"},
     "settings": {"model": "openai:gpt-4.1", "limits": {"max_cells": 8}}}

Only `task` is required. `settings` are the run's `Context` fields that JSON can carry
(model strings, limits, sandbox...); the few that make no sense in a batch (a human approval,
the run directory, live objects) are refused. A model that no string names (a chat model
class of your own, a scripted model) comes from a factory that every node can import:
`"model_factory": "package.module:function"` with `"model_factory_args": {...}`; the
function returns a chat model (the run's `model`) or a dict of role models (`model`,
`planner_model`, `coder_model`, `reviewer_model`), and is called where the task runs.
Blank lines are skipped. A bad line is named by its number, and the whole file is refused:
a batch never half-starts.

Each task's thread id is derived from the batch and the task, so that running the same
file again finds the same checkpoints: `<batch id>-<task id or line>-<digest of the line's
content>`. The content digest makes an edited task a new run rather than the resume of
another task's checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runpad.errors import ConfigurationError

__all__ = [
    "FACTORY_SETTINGS",
    "BatchTask",
    "batch_id_of",
    "load_factory",
    "read_tasks",
    "settings_fields",
]

_KEYS = frozenset({"id", "task", "files", "databases", "settings"})
_NOT_IN_A_BATCH = {
    "approve": "a batch has nobody to approve cells",
    "run_dir": "the batch's --out decides where runs go",
    "sandboxes": "a live object cannot travel in a file",
    "search": "a live object cannot travel in a file",
    "record": "one record file per run would be overwritten by every task",
    "databases": 'give them as the line\'s own "databases" key',
}
FACTORY_SETTINGS = frozenset({"model_factory", "model_factory_args"})
"""Batch settings that are not `Context` fields: the models' factory and its arguments."""
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def settings_fields() -> frozenset[str]:
    """The `Context` fields a batch line's `settings` may set."""
    from runpad.context import Context  # the graph's settings, read only when checking

    fields = frozenset(f.name for f in dataclasses.fields(Context)) - set(_NOT_IN_A_BATCH)
    return fields | FACTORY_SETTINGS


def load_factory(path: str) -> Any:
    """The function a `model_factory` setting names ("package.module:function").

    Raises:
        ConfigurationError: the path is malformed, or the module or function is missing.
    """
    import importlib

    if not _FACTORY.match(path):
        raise ConfigurationError(
            f"model_factory {path!r} is not of the form 'package.module:function'."
        )
    module_name, _, name = path.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"model_factory {path!r} cannot be imported: {exc}") from exc
    if not callable(function):
        raise ConfigurationError(f"model_factory {path!r} is not a function.")
    return function


@dataclass(frozen=True)
class BatchTask:
    """One line of a batch file.

    Attributes:
        line: its line number in the file (1-based), for messages.
        task: the question or job, in words.
        id: the caller's name for it (default: `line-N`).
        files: input files, as absolute paths (each must be readable on every node).
        databases: SQL databases the run may query, name -> URL.
        settings: `Context` settings for this task, over the batch's defaults.
        digest: a short hash of the line's content (task, files, databases, settings).
    """

    line: int
    task: str
    id: str
    files: tuple[str, ...] = ()
    databases: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    digest: str = ""

    @classmethod
    def of(
        cls,
        task: str,
        id: str,
        *,
        line: int = 0,
        files: tuple[str, ...] = (),
        databases: dict[str, str] | None = None,
        settings: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> BatchTask:
        """A task made in code (not read from a file), with its content digest.

        `key` stands for the settings in the digest where they hold objects whose repr
        changes from process to process (a scripted chat model), so that the thread id
        stays the same across invocations."""
        databases, settings = databases or {}, settings or {}
        content = json.dumps(
            {
                "task": task,
                "files": list(files),
                "databases": databases,
                "settings": settings if key is None else key,
            },
            sort_keys=True,
            default=repr,  # dataclasses (limits): their repr is their content
        )
        digest = hashlib.sha256(content.encode()).hexdigest()[:8]
        return cls(line, task, id, files, databases, settings, digest)

    def thread_id(self, batch_id: str) -> str:
        """The run's thread id: the same for the same task of the same batch, every time."""
        return f"{batch_id}-{self.id}-{self.digest}"


def batch_id_of(path: Path) -> str:
    """The default batch id: the file's name and a hash of its bytes (`tasks-1a2b3c4d`).

    Running the same file again gives the same id, so finished tasks are found and skipped.
    """
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)[:32] or "batch"
    return f"{stem}-{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}"


def read_tasks(path: str | Path) -> list[BatchTask]:
    """Every task of a batch file, checked; relative file paths are taken from the batch
    file's folder.

    Raises:
        ConfigurationError: the file cannot be read, is empty, or a line is bad (the message
            names the line and what is wrong with it); nothing is returned in part.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"Cannot read the batch file {path}: {exc}") from exc
    allowed = settings_fields()
    tasks: list[BatchTask] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            task = _parse_line(raw, number, path.parent, allowed)
        except ValueError as exc:
            raise ConfigurationError(
                f"{path}, line {number}: {exc}. Nothing was run; fix the line and run again."
            ) from exc
        if task.id in seen:
            raise ConfigurationError(
                f"{path}, line {number}: the id {task.id!r} is also line {seen[task.id]}'s; "
                "each task needs its own id. Nothing was run."
            )
        seen[task.id] = number
        tasks.append(task)
    if not tasks:
        raise ConfigurationError(f"The batch file {path} has no tasks (one JSON object a line).")
    return tasks


def _parse_line(raw: str, number: int, base: Path, allowed: frozenset[str]) -> BatchTask:
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(document, dict):
        raise ValueError(f"a JSON object is expected, not {type(document).__name__}")
    if unknown := sorted(set(document) - _KEYS):
        raise ValueError(
            f"unknown key(s) {', '.join(unknown)}; a line has: {', '.join(sorted(_KEYS))}"
        )
    task = document.get("task")
    if not isinstance(task, str) or not task.strip():
        raise ValueError('"task" must be a non-empty string: say what runpad should find out')
    task_id = document.get("id", f"line-{number}")
    if not isinstance(task_id, str) or not _ID.match(task_id):
        raise ValueError(
            '"id" must be 1 to 64 letters, digits, "_", "." or "-" (it becomes part of the '
            f"thread id), not {task_id!r}"
        )
    files = document.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        raise ValueError('"files" must be a list of paths')
    resolved = [(base / f).resolve() for f in files]
    if missing := [str(p) for p in resolved if not p.is_file()]:
        raise ValueError(f"input file(s) not found: {', '.join(missing)}")
    databases = document.get("databases", {})
    if not isinstance(databases, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in databases.items()
    ):
        raise ValueError('"databases" must be an object of name -> URL strings')
    settings = document.get("settings", {})
    if not isinstance(settings, dict):
        raise ValueError('"settings" must be an object of run settings')
    for name in settings:
        if name in _NOT_IN_A_BATCH:
            raise ValueError(f'"settings.{name}" cannot be set in a batch: {_NOT_IN_A_BATCH[name]}')
        if name not in allowed:
            raise ValueError(
                f'unknown setting "settings.{name}"; known: {", ".join(sorted(allowed))}'
            )
    _check_settings(settings, databases)
    return BatchTask.of(
        task,
        task_id,
        line=number,
        files=tuple(str(p) for p in resolved),
        databases=databases,
        settings=settings,
    )


def _check_settings(settings: dict[str, Any], databases: dict[str, str]) -> None:
    """Make the Context the line describes (and close it): a misspelt backend, a bad limit
    or database URL fails here, before any task of the batch runs."""
    from runpad.bridge import run_sync
    from runpad.context import Context

    if "model_factory_args" in settings and "model_factory" not in settings:
        raise ValueError('"settings.model_factory_args" goes with "settings.model_factory"')
    if not isinstance(settings.get("model_factory_args", {}), dict):
        raise ValueError('"settings.model_factory_args" must be an object of keyword arguments')
    run_settings = {k: v for k, v in settings.items() if k not in FACTORY_SETTINGS}
    try:
        if "model_factory" in settings:
            load_factory(str(settings["model_factory"]))
        context = Context(**run_settings, databases=databases)
    except (TypeError, ConfigurationError) as exc:
        raise ValueError(str(exc)) from exc
    run_sync(context.aclose())
