"""Running coroutines from synchronous code: the one place runpad crosses from sync to async.

runpad is async inside (models, sandboxes and databases are awaited), and offers sync entry
points (`runpad.run`, `SyncSandbox`, `graph.invoke`, LangChain tools' `invoke`, the CLI).
There are two ways across, for two kinds of work:

- `run_sync(coroutine)`: work that opens and closes everything it uses (a whole run, a CLI
  command). It gets a fresh event loop of its own, closed when it returns, as
  `asyncio.run` gives; inside a running loop (Jupyter) that loop runs in a worker thread.
- `EventLoopThread`: work whose objects outlive one call. A sandbox session belongs to the
  event loop that started it (its kernel's subprocess and sockets live there), so every
  later call on it must run on that same loop: the loop runs in a daemon thread, and
  `call` / `submit` hand it coroutines from any other thread. `submit_to` does the same for
  a loop someone else runs (a session a caller started on its own loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["EventLoopThread", "run_sync", "submit_to"]

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion on a fresh event loop and return its result.

    From plain sync code this is `asyncio.run`. Where a loop already runs in this thread
    (Jupyter), blocking it on itself would wait forever, so the fresh loop runs in a worker
    thread while this one waits. Anything the coroutine opened must be closed by its end:
    the loop is closed after it.

    Example:
        ```python
        result = run_sync(arun("What is 6 * 7?"))
        ```
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="runpad-run") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def submit_to(
    loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T]
) -> concurrent.futures.Future[T]:
    """Schedule `coroutine` on `loop`, which runs in another thread; wait on the future.

    The caller's context variables go with it (`call_soon_threadsafe` copies them into the
    task it starts). A loop that is closed or not running raises RuntimeError, and the
    coroutine is closed, never left unawaited.
    """
    if loop.is_closed() or not loop.is_running():
        coroutine.close()
        raise RuntimeError("This event loop is not running any more.")
    return asyncio.run_coroutine_threadsafe(coroutine, loop)


class EventLoopThread:
    """An asyncio event loop running in a daemon thread, to call async code from sync code.

    Args:
        name: the thread's name, shown in debuggers and thread dumps.

    Example:
        ```python
        portal = EventLoopThread(name="my-sessions")
        session = open_sandbox("local")
        portal.call(session.start())  # the session now lives on the portal's loop
        print(portal.call(session.run("1 + 1")).text)
        portal.call(session.close())
        portal.stop()
        ```
    """

    def __init__(self, name: str = "runpad-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def is_running(self) -> bool:
        return self._thread.is_alive()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the loop; the future can be waited on from any thread."""
        if not self._thread.is_alive():
            coro.close()
            raise RuntimeError("This event loop thread was stopped.")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and block until it returns (or raises)."""
        if threading.current_thread() is self._thread:
            coro.close()
            # Blocking the loop's own thread on the loop would wait forever.
            raise RuntimeError(
                "A synchronous call was made from its own event loop thread (a sync sandbox "
                "method in an on_output callback?); await the async version there instead."
            )
        return self.submit(coro).result()

    def stop(self) -> None:
        """Stop the loop, cancel what still runs on it and join the thread; idempotent."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            if threading.current_thread() is not self._thread:
                self._thread.join()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()
