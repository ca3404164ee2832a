"""Documentation lookup, offline: signatures and docstrings from the sandbox's own packages.

The lookup runs inside the sandbox session, with `inspect`, so it describes exactly the
versions the code will run against, and it sees the session's variables too (`df.pivot`
resolves through the data frame the cells made). Nothing leaves the machine.

`lookup_docs` takes dotted names; `names_from_error` picks the names worth looking up after
an AttributeError or TypeError, from the error and the code that raised it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools.base import ArgsSchema
from pydantic import BaseModel, Field

from runpad.sandbox.base import Sandbox
from runpad.tools.session import SandboxTool

__all__ = [
    "LOOKUP_DOCS_DESCRIPTION",
    "DocEntry",
    "LookupDocsInput",
    "LookupDocsTool",
    "format_docs",
    "lookup_docs",
    "names_from_error",
    "names_from_text",
]

_MARKER = "__runpad_docs__"

# Runs in the session, inside one function that deletes itself. Names resolve through the
# session's variables first, then the longest importable module prefix, then builtins, then
# the type of a session variable whose class has that name ("'DataFrame' object has no
# attribute ..." names a class, not a variable).
_LOOKUP = """\
def __runpad_lookup_docs(names, max_doc_chars, max_members, marker, namespace):
    import builtins, difflib, importlib, inspect, json
    missing = object()

    def first(parts):
        if parts[0] in namespace:
            return namespace[parts[0]], 1
        for size in range(len(parts), 0, -1):
            try:
                return importlib.import_module(".".join(parts[:size])), size
            except Exception:
                continue
        if hasattr(builtins, parts[0]):
            return getattr(builtins, parts[0]), 1
        for value in list(namespace.values()):
            if type(value).__name__ == parts[0] and not parts[0].startswith("_"):
                return type(value), 1
        return missing, 0

    def kind_of(obj):
        if inspect.ismodule(obj): return "module"
        if inspect.isclass(obj): return "class"
        if inspect.ismethod(obj) or inspect.ismethoddescriptor(obj): return "method"
        if inspect.isroutine(obj): return "function"
        if callable(obj): return "callable"
        return "value"

    def qualified(obj):
        if inspect.ismodule(obj):
            return obj.__name__
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if module and qualname and isinstance(module, str) and isinstance(qualname, str):
            return module + "." + qualname
        return None

    def public(obj):
        try:
            names = dir(obj)
        except Exception:
            return []
        return [n for n in names if not n.startswith("_")]

    def describe(name):
        entry = {"name": name, "found": False}
        parts = [p for p in name.strip().split(".") if p]
        if not parts:
            entry["error"] = "an empty name"
            return entry
        obj, used = first(parts)
        if obj is missing:
            entry["error"] = "no variable, module or builtin named %r" % parts[0]
            return entry
        for index in range(used, len(parts)):
            try:
                obj = getattr(obj, parts[index])
            except Exception:
                owner = ".".join(parts[:index])
                names_there = public(obj)
                entry["error"] = "%s has no attribute %r" % (owner, parts[index])
                entry["suggestions"] = difflib.get_close_matches(parts[index], names_there, 6, 0.5)
                if not entry["suggestions"]:
                    entry["members"] = names_there[:max_members]
                return entry
        kind = kind_of(obj)
        entry.update(found=True, kind=kind, qualname=qualified(obj))
        target = obj
        entry["signature"] = None
        if kind == "value":
            entry["type"] = qualified(type(obj)) or type(obj).__name__
            try:
                entry["repr"] = repr(obj)[:300]
            except Exception:
                pass
            target = type(obj)
        else:
            try:
                entry["signature"] = str(inspect.signature(target))
            except Exception:
                pass
        doc = inspect.getdoc(target) or ""
        entry["doc"] = doc[:max_doc_chars] + ("\\n[...]" if len(doc) > max_doc_chars else "")
        if kind in ("module", "class", "value"):
            entry["members"] = public(target)[:max_members]
        return entry

    results = []
    for name in names:
        try:
            results.append(describe(name))
        except Exception as exc:
            results.append({"name": name, "found": False, "error": repr(exc)})
    print(marker + json.dumps(results, default=str))
"""


@dataclass(frozen=True)
class DocEntry:
    """What the sandbox knows of one name.

    Attributes:
        name: the name as asked.
        found: it resolved to an object.
        kind: "module", "class", "function", "method", "callable" or "value" (a variable,
            described by its type).
        qualname: where it is defined ("pandas.core.frame.DataFrame.merge").
        type, repr: for a variable, its type and the start of its repr.
        signature, doc: its call signature and docstring (cut).
        members: public attributes of a module, class or value (the first ones).
        error: why it did not resolve; suggestions: close names that do exist.
    """

    name: str
    found: bool
    kind: str | None = None
    qualname: str | None = None
    type: str | None = None
    repr: str | None = None
    signature: str | None = None
    doc: str = ""
    members: list[str] = field(default_factory=list)
    error: str | None = None
    suggestions: list[str] = field(default_factory=list)

    def text(self) -> str:
        """The entry as a model reads it."""
        if not self.found:
            lines = [f"{self.name}: not found ({self.error})."]
            if self.suggestions:
                lines.append(f"  Did you mean: {', '.join(self.suggestions)}?")
            if self.members:
                lines.append(f"  Public names there: {', '.join(self.members)}")
            return "\n".join(lines)
        where = f" = {self.qualname}" if self.qualname and self.qualname != self.name else ""
        head = f"{self.name} ({self.kind}{where})"
        if self.type:
            head = f"{self.name} (a {self.type} value)"
        lines = [head]
        if self.repr:
            lines.append(f"  value: {self.repr}")
        if self.signature:
            lines.append(f"  signature: {self.name.rsplit('.', 1)[-1]}{self.signature}")
        if self.doc:
            lines.extend("  " + line if line else "" for line in self.doc.splitlines())
        if self.members:
            lines.append(f"  public names: {', '.join(self.members)}")
        return "\n".join(lines)


def _lookup_code(names: list[str], max_doc_chars: int, max_members: int) -> str:
    arguments = ", ".join(repr(a) for a in (names, max_doc_chars, max_members, _MARKER))
    return (
        f"{_LOOKUP}try:\n    __runpad_lookup_docs({arguments}, globals())\n"
        "finally:\n    del __runpad_lookup_docs\n"
    )


async def lookup_docs(
    sandbox: Sandbox,
    names: Iterable[str],
    *,
    max_doc_chars: int = 1500,
    max_members: int = 60,
    timeout: float = 60.0,
) -> list[DocEntry]:
    """Signatures and docstrings of `names`, as the sandbox's environment has them.

    Args:
        sandbox: a started session; the lookup may import the modules it names there.
        names: dotted names: modules (`numpy.linalg`), classes, functions and methods
            (`pandas.DataFrame.merge`), or the session's variables (`df.groupby`).

    A name that does not resolve is an entry with `found=False`, the reason, and close
    names that exist; a failure of the lookup cell itself is one entry with its error.

    Example:
        ```python
        async with open_sandbox("local") as sandbox:
            (entry,) = await lookup_docs(sandbox, ["statistics.median"])
            print(entry.text())
        ```
    """
    wanted = [name.strip() for name in names if name.strip()]
    if not wanted:
        return []
    execution = await sandbox.run(_lookup_code(wanted, max_doc_chars, max_members), timeout=timeout)
    for line in reversed(execution.stdout.splitlines()):
        if line.startswith(_MARKER):
            try:
                raw = json.loads(line[len(_MARKER) :])
            except json.JSONDecodeError:
                break
            return [_entry(item) for item in raw if isinstance(item, dict)]
    why = str(execution.error) if execution.error else "the lookup printed nothing"
    if execution.timed_out:
        why = f"the lookup took longer than {timeout:g} s (importing a module may hang)"
    return [DocEntry(name=", ".join(wanted), found=False, error=f"lookup failed: {why}")]


def _entry(item: dict[str, Any]) -> DocEntry:
    def text_list(key: str) -> list[str]:
        value = item.get(key)
        return [str(v) for v in value] if isinstance(value, list) else []

    def optional(key: str) -> str | None:
        value = item.get(key)
        return str(value) if value is not None else None

    return DocEntry(
        name=str(item.get("name", "")),
        found=bool(item.get("found")),
        kind=optional("kind"),
        qualname=optional("qualname"),
        type=optional("type"),
        repr=optional("repr"),
        signature=optional("signature"),
        doc=str(item.get("doc") or ""),
        members=text_list("members"),
        error=optional("error"),
        suggestions=text_list("suggestions"),
    )


def format_docs(entries: Iterable[DocEntry], max_chars: int = 6000) -> str:
    """The entries as one text for a prompt, cut to `max_chars`."""
    text = "\n\n".join(entry.text() for entry in entries)
    if len(text) > max_chars:
        text = text[: max_chars - 20].rstrip() + "\n[... cut ...]"
    return text or "(nothing to look up)"


# -- what to look up ------------------------------------------------------------------------

_BACKTICKED = re.compile(r"`([A-Za-z_][\w.]*)(?:\(\))?`")
_DOTTED = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?:\(\))?(?![\w.])")
_FILE_SUFFIXES = (".csv", ".txt", ".json", ".py", ".png", ".svg", ".dot", ".db", ".sqlite", ".md")


def names_from_text(text: str, limit: int = 5) -> list[str]:
    """API names mentioned in a plan step: `backticked` ones first, else dotted ones."""
    found = _BACKTICKED.findall(text) or _DOTTED.findall(text)
    names: list[str] = []
    for name in found:
        if name.lower().endswith(_FILE_SUFFIXES) or name in names:
            continue
        names.append(name)
    return names[:limit]


_NO_ATTRIBUTE = re.compile(
    r"(?:(?:type object|module) )?'(?P<owner>[\w.]+)'(?: object)? has no attribute '(?P<attr>\w+)'"
)
_CALLED = re.compile(r"(?P<name>[A-Za-z_][\w.]*)\(\)")


def names_from_error(error_name: str, error_value: str, code: str, limit: int = 3) -> list[str]:
    """Names to look up after an AttributeError or TypeError, so the coder can fix the call.

    For "'X' object has no attribute 'y'" it is how the code reached `.y` (`df.y`), or
    `X.y`; for "f() got an unexpected keyword argument" it is the callable as the code
    spelled it (`pd.read_csv`). Other errors give nothing.
    """
    names: list[str] = []
    if error_name == "AttributeError" and (match := _NO_ATTRIBUTE.search(error_value)):
        attr, owner = match.group("attr"), match.group("owner")
        names.extend(f"{base}.{attr}" for base in _attribute_bases(code, attr))
        names.append(f"{owner}.{attr}")
    elif error_name == "TypeError" and (match := _CALLED.search(error_value)):
        called = match.group("name")
        short = called.rsplit(".", 1)[-1]
        names.extend(_callees(code, short))
        names.append(called)
    return _unique(names)[:limit]


_CHAIN = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"


def _attribute_bases(code: str, attr: str) -> list[str]:
    """How the code reaches `.attr` through plain names (`df` in `df.attr`, not calls)."""
    pattern = re.compile(rf"(?<![\w.)\]])({_CHAIN})\.{re.escape(attr)}\b")
    return _unique(pattern.findall(code))


def _callees(code: str, short_name: str) -> list[str]:
    """Callables named `short_name` as the code spells them (`pd.read_csv(`)."""
    pattern = re.compile(rf"(?<![\w.)\]])((?:{_CHAIN}\.)?{re.escape(short_name)})\s*\(")
    return _unique(pattern.findall(code))


def _unique(names: Iterable[str]) -> list[str]:
    unique: list[str] = []
    for name in names:
        if name not in unique:
            unique.append(name)
    return unique


# -- the LangChain tool -----------------------------------------------------------------------

LOOKUP_DOCS_DESCRIPTION = """\
Look up the documentation of Python modules, classes, functions and methods, as installed \
in the sandbox where your code runs: the call signature and the docstring.
- Give full dotted names, e.g. ["pandas.DataFrame.pivot_table", "numpy.linalg.lstsq"]; \
variables of the session work too (["df.groupby"]).
- Use it before calling an API you are unsure of, and after an AttributeError or TypeError.
- A name that does not exist comes back with close names that do."""


class LookupDocsInput(BaseModel):
    """The arguments the model gives `lookup_docs`."""

    names: list[str] = Field(
        min_length=1,
        max_length=10,
        description="Dotted names to look up, e.g. 'pandas.DataFrame.merge'.",
    )


class LookupDocsTool(SandboxTool):
    """The `lookup_docs` tool: offline API documentation from the sandbox's environment.

    Args:
        sandbox: where the session comes from (see `SandboxTool`); share the session that
            runs the code, so that its variables resolve too.
        max_chars: the size of the text the model gets back.

    Example:
        ```python
        async with LookupDocsTool(lambda: open_sandbox("local")) as docs:
            print(await docs.ainvoke({"names": ["statistics.median"]}))
        ```
    """

    name: str = "lookup_docs"
    description: str = LOOKUP_DOCS_DESCRIPTION
    args_schema: ArgsSchema | None = LookupDocsInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    max_chars: int = Field(default=6000, ge=500)

    def _run(
        self, names: list[str], run_manager: CallbackManagerForToolRun | None = None
    ) -> tuple[str, list[dict[str, Any]]]:
        entries = self._in_session_sync(lambda sandbox: lookup_docs(sandbox, names))
        return self._response(entries)

    async def _arun(
        self, names: list[str], run_manager: AsyncCallbackManagerForToolRun | None = None
    ) -> tuple[str, list[dict[str, Any]]]:
        entries = await self._in_session(lambda sandbox: lookup_docs(sandbox, names))
        return self._response(entries)

    def _response(self, entries: list[DocEntry]) -> tuple[str, list[dict[str, Any]]]:
        return format_docs(entries, self.max_chars), [asdict(entry) for entry in entries]
