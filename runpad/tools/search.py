"""Web search: titles, URLs and snippets, with a hard timeout, never an exception.

The default engine is `ddgs` (the maintained successor of `duckduckgo-search`, which is
accepted too), from the `search` extra. Any LangChain search tool (one that takes a query)
or retriever can be plugged in instead. Whatever goes wrong (no network, a rate limit, a
missing package, a provider that hangs) comes back as `SearchOutcome.error`, so a graph
that searches goes on without the results and says why.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal, TypeAlias, TypeVar

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool
from langchain_core.tools.base import ArgsSchema
from pydantic import BaseModel, Field, SkipValidation

__all__ = [
    "WEB_SEARCH_DESCRIPTION",
    "SearchHit",
    "SearchOutcome",
    "SearchProvider",
    "WebSearchInput",
    "WebSearchTool",
    "format_search",
    "search_web",
]

T = TypeVar("T")

SearchProvider: TypeAlias = BaseTool | BaseRetriever
"""A search engine to use instead of ddgs: a LangChain tool that takes a query, or a retriever."""

NO_SEARCH_PACKAGE = (
    "Web search needs the ddgs package, which is not installed: pip install 'runpad[search]' "
    "(or plug in any LangChain search tool or retriever)."
)


@dataclass(frozen=True)
class SearchHit:
    """One search result."""

    title: str
    url: str
    snippet: str


@dataclass(frozen=True)
class SearchOutcome:
    """The hits of a search, or why there are none.

    Attributes:
        unavailable: search could not run at all (no network, the package missing, a
            timeout), as opposed to a search that ran and found nothing.
    """

    query: str
    hits: list[SearchHit] = field(default_factory=list)
    error: str | None = None
    unavailable: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def format_search(outcome: SearchOutcome, max_snippet_chars: int = 300) -> str:
    """The hits as a numbered list a model can read and cite, or the error."""
    if outcome.error is not None:
        return outcome.error
    if not outcome.hits:
        return f"No results for {outcome.query!r}."
    lines = []
    for number, hit in enumerate(outcome.hits, 1):
        snippet = " ".join(hit.snippet.split())
        if len(snippet) > max_snippet_chars:
            snippet = snippet[: max_snippet_chars - 3] + "..."
        lines.append(f"{number}. {hit.title or '(no title)'}")
        if hit.url:
            lines.append(f"   {hit.url}")
        if snippet:
            lines.append(f"   {snippet}")
    return "\n".join(lines)


async def search_web(
    query: str,
    *,
    max_results: int = 5,
    timeout: float = 10.0,
    provider: SearchProvider | None = None,
) -> SearchOutcome:
    """Search the web for `query`; never raises, never runs past `timeout` seconds.

    Args:
        provider: a LangChain search tool or retriever; None uses ddgs.

    Example:
        ```python
        outcome = await search_web("PEP 695 type parameter syntax", max_results=3)
        print(format_search(outcome))
        ```
    """
    query = query.strip()
    if not query:
        return SearchOutcome(query, error="The search query is empty.")
    try:
        if provider is None:
            raw = await _in_daemon_thread(lambda: _ddgs_text(query, max_results, timeout), timeout)
            hits = [_hit(item) for item in raw]
        elif isinstance(provider, BaseRetriever):
            documents = await asyncio.wait_for(provider.ainvoke(query), timeout)
            hits = [_document_hit(document) for document in documents]
        else:
            hits = _tool_hits(await asyncio.wait_for(_invoke_tool(provider, query), timeout))
    except TimeoutError:
        return SearchOutcome(
            query,
            error=f"Web search did not answer within {timeout:g} s (no network, or the engine "
            "is slow); go on without it.",
            unavailable=True,
        )
    except ImportError:
        return SearchOutcome(query, error=NO_SEARCH_PACKAGE, unavailable=True)
    except Exception as exc:
        return _failure(query, exc)
    return SearchOutcome(query, hits=hits[:max_results])


def _failure(query: str, exc: Exception) -> SearchOutcome:
    message = str(exc).strip() or type(exc).__name__
    if "no results" in message.lower():
        return SearchOutcome(query)  # ddgs raises when nothing matched: that is an answer
    return SearchOutcome(
        query,
        error=f"Web search is unavailable ({type(exc).__name__}: {message}). Is there network "
        "access? Go on without it.",
        unavailable=True,
    )


def _ddgs_text(query: str, max_results: int, timeout: float) -> list[dict[str, Any]]:
    """Search with ddgs, or duckduckgo_search where only the old name is installed."""
    seconds = max(1, round(timeout))
    try:
        client = importlib.import_module("ddgs")
    except ImportError:
        client = importlib.import_module("duckduckgo_search")  # the old name, the same API
    results: list[dict[str, Any]] = client.DDGS(timeout=seconds).text(
        query, max_results=max_results
    )
    return list(results or [])


async def _in_daemon_thread(work: Callable[[], T], timeout: float) -> T:
    """Run blocking `work` in a daemon thread and wait at most `timeout` seconds.

    Not `asyncio.to_thread`: a search stuck in a socket would then hold up the event loop's
    shutdown, which waits for its executor's threads; a daemon thread is simply left behind.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if future.done():  # timed out and cancelled meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def target() -> None:
        try:
            value, error = work(), None
        except BaseException as exc:
            value, error = None, exc
        # The caller may have timed out and its loop closed before a slow search returns.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=target, name="runpad-search", daemon=True).start()
    return await asyncio.wait_for(future, timeout)


async def _invoke_tool(tool: BaseTool, query: str) -> Any:
    arguments = tool.args
    if len(arguments) == 1:
        return await tool.ainvoke({next(iter(arguments)): query})
    if "query" in arguments:
        return await tool.ainvoke({"query": query})
    return await tool.ainvoke(query)


def _hit(item: Mapping[str, Any]) -> SearchHit:
    def first(*keys: str) -> str:
        for key in keys:
            value = item.get(key)
            if value:
                return str(value)
        return ""

    return SearchHit(
        title=first("title", "name"),
        url=first("href", "url", "link", "source"),
        snippet=first("body", "snippet", "content", "description", "text"),
    )


def _document_hit(document: Document) -> SearchHit:
    metadata = document.metadata
    title = str(metadata.get("title") or document.page_content.strip().split("\n", 1)[0][:80])
    url = str(metadata.get("source") or metadata.get("url") or metadata.get("link") or "")
    return SearchHit(title=title, url=url, snippet=document.page_content)


def _tool_hits(output: Any) -> list[SearchHit]:
    """Hits from what a LangChain search tool returned: text, JSON, dicts or documents."""
    if hasattr(output, "content") and not isinstance(output, Mapping | str):
        output = output.content  # a ToolMessage
    if isinstance(output, str):
        try:
            output = json.loads(output)
        except json.JSONDecodeError:
            return [SearchHit(title="", url="", snippet=output)] if output.strip() else []
    if isinstance(output, Mapping):
        results = output.get("results")
        output = results if isinstance(results, list) else [output]
    hits = []
    if isinstance(output, Sequence) and not isinstance(output, str):
        for item in output:
            if isinstance(item, Document):
                hits.append(_document_hit(item))
            elif isinstance(item, Mapping):
                hits.append(_hit(item))
            elif str(item).strip():
                hits.append(SearchHit(title="", url="", snippet=str(item)))
    return hits


# -- the LangChain tool -----------------------------------------------------------------------

WEB_SEARCH_DESCRIPTION = """\
Search the web and get result titles, URLs and short snippets.
- Use it for facts you do not know or that may have changed: current figures, recent \
events, where data or documentation lives.
- Snippets are short: cite the URL with what you take from it.
- If search is unavailable (no network), the reply says so: go on without it."""


class WebSearchInput(BaseModel):
    """The arguments the model gives `web_search`."""

    query: str = Field(description="What to search for, as you would type it into a search box.")
    max_results: int = Field(default=5, ge=1, le=20, description="How many results to return.")


class WebSearchTool(BaseTool):
    """The `web_search` tool: ddgs (or a provider you plug in), with a hard timeout.

    Args:
        provider: a LangChain search tool or retriever to use instead of ddgs.
        timeout: seconds a search may take; past it the tool answers that search is
            unavailable.

    Example:
        ```python
        from runpad.tools import WebSearchTool

        agent = create_react_agent("openai:gpt-4.1", [WebSearchTool(timeout=5)])
        ```
    """

    name: str = "web_search"
    description: str = WEB_SEARCH_DESCRIPTION
    args_schema: ArgsSchema | None = WebSearchInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    provider: Annotated[SearchProvider | None, SkipValidation()] = Field(default=None, exclude=True)
    timeout: float = Field(default=10.0, gt=0)

    def _run(
        self,
        query: str,
        max_results: int = 5,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, dict[str, Any]]:
        # A private loop in a worker thread: this works whether or not the calling thread
        # already runs an event loop (Jupyter, a sync agent called from async code).
        with concurrent.futures.ThreadPoolExecutor(1) as worker:
            outcome = worker.submit(asyncio.run, self._search(query, max_results)).result()
        return format_search(outcome), outcome.to_dict()

    async def _arun(
        self,
        query: str,
        max_results: int = 5,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str, dict[str, Any]]:
        outcome = await self._search(query, max_results)
        return format_search(outcome), outcome.to_dict()

    async def _search(self, query: str, max_results: int) -> SearchOutcome:
        return await search_web(
            query, max_results=max_results, timeout=self.timeout, provider=self.provider
        )
