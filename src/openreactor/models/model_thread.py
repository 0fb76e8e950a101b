"""The one thread a session's model runs on, and how to give up on it when a call never returns.

Python cannot kill a thread. When a call into the model overruns its deadline the runner abandons
the thread: the session ends and nothing waits for that thread again. Two things keep an abandoned
thread from doing more harm:

* It is a daemon thread. ``ThreadPoolExecutor`` threads are joined at interpreter exit, so one
  stuck model call would keep the server (or a worker process) from ever exiting.
* :meth:`ModelThread.abandon` raises :class:`ModelAbandoned` inside it (CPython's
  ``PyThreadState_SetAsyncExc``). That stops code that loops in Python bytecode; a call blocked in
  C (``time.sleep``, a lock, I/O, a GPU sync) only sees it once it returns, possibly never.
"""

from __future__ import annotations

import ctypes
import functools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")


class ModelAbandoned(BaseException):
    """Raised inside an abandoned model thread. A ``BaseException``, so the model's own
    ``except Exception`` blocks don't swallow it."""


_Item = tuple[Future[Any], Callable[[], Any]]


class ModelThread(Executor):
    """A single daemon thread running submitted calls in order (an ``Executor`` for ``run_in_executor``)."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._shut_down = False
        self.abandoned = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if self._shut_down:
            raise RuntimeError("cannot submit to a model thread after shutdown")
        future: Future[T] = Future()
        self._queue.put((future, functools.partial(fn, *args, **kwargs)))
        if self._thread.ident is None:  # started on first use: a session that never runs costs no thread
            self._thread.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if not self._shut_down:
            self._shut_down = True
            self._queue.put(None)
        if wait and not self.abandoned and self._thread.ident is not None:
            self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def abandon(self) -> bool:
        """Give up on the thread: no more calls, and :class:`ModelAbandoned` raised inside it.

        Returns whether the exception could be scheduled (the thread was still running).
        """
        self.abandoned = True
        self.shutdown(wait=False)
        ident = self._thread.ident
        if ident is None or not self._thread.is_alive():
            return False
        hit = ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(ident), ctypes.py_object(ModelAbandoned)
        )
        return bool(hit == 1)

    def _work(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                future, call = item
                del item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(call())
                except BaseException as exc:  # handed to the caller, as ThreadPoolExecutor does
                    future.set_exception(exc)
                del future, call  # an idle thread keeps nothing of the model alive
        except ModelAbandoned:
            pass  # the interrupt landed between two calls: this thread was given up on anyway
