"""Control-event dispatch on the client's event loop (SDK-API §1.1.9).

Sync handlers are called inline; ``async def`` handlers are scheduled as tasks that the emitter
owns: their exceptions are logged, and :meth:`EventEmitter.cancel_tasks` cancels those still
running when the client closes. Handlers of one event run in registration order, and one
handler's exception never stops the others.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from reactor_sdk.errors import ReactorError

logger = logging.getLogger("reactor_sdk")

EventName: TypeAlias = Literal[
    "status_changed",
    "error",
    "message",
    "runtime_message",
    "track_received",
    "capabilities_received",
    "session_id_changed",
    "frame",
]
"""Every event name ``Reactor.on`` accepts."""

CONTROL_EVENTS: frozenset[str] = frozenset(
    {
        "status_changed",
        "error",
        "message",
        "runtime_message",
        "track_received",
        "capabilities_received",
        "session_id_changed",
    }
)

Handler: TypeAlias = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Listener:
    """A registered handler, optionally limited to some payload values (``on_status(S)``)."""

    fn: Handler
    only: frozenset[Any] | None = None
    where: Callable[[Any], bool] | None = None

    def accepts(self, value: Any) -> bool:
        if self.where is not None and not self.where(value):
            return False
        return self.only is None or value in self.only


class EventEmitter:
    """Holds the handlers of the control events and dispatches them."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(
        self,
        event: str,
        fn: Handler,
        only: Collection[Any] | None = None,
        where: Callable[[Any], bool] | None = None,
    ) -> None:
        """Register ``fn``; registering the same function twice for one event has no effect.
        ``only`` limits it to some payload values, ``where`` to payloads the predicate accepts."""
        listeners = self._listeners.setdefault(event, [])
        if any(lst.fn is fn for lst in listeners):
            return
        listeners.append(Listener(fn, None if only is None else frozenset(only), where))

    def remove(self, event: str, fn: Handler) -> None:
        """Unregister ``fn``; unknown functions are ignored."""
        listeners = self._listeners.get(event)
        if listeners:
            self._listeners[event] = [lst for lst in listeners if lst.fn is not fn]

    def listeners(self, event: str) -> list[Listener]:
        return list(self._listeners.get(event, ()))

    def clear(self) -> None:
        self._listeners.clear()

    def emit(self, event: str, value: Any) -> None:
        """Call every handler of ``event`` that accepts ``value``."""
        if isinstance(value, ReactorError):
            value.emitted = True
        for listener in self.listeners(event):
            if listener.accepts(value):
                self.call(event, listener.fn, value)

    def call(self, event: str, fn: Handler, value: Any) -> None:
        """Run one handler: inline if sync, as an owned task if it returns an awaitable."""
        try:
            result = fn(value)
        except Exception as exc:
            self._log_failure(event, exc, value)
            return
        if inspect.isawaitable(result):
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                logger.warning("async %r handler called outside an event loop; not run", event)
                if inspect.iscoroutine(result):
                    result.close()
                return
            task = loop.create_task(self._run(event, result, value), name=f"reactor_sdk:{event}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if inspect.iscoroutine(result):
                # A task cancelled before it started never awaits the handler's coroutine.
                coro = result
                task.add_done_callback(lambda _: coro.close())

    async def _run(self, event: str, awaitable: Any, value: Any) -> None:
        try:
            await awaitable
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log_failure(event, exc, value)

    @staticmethod
    def _log_failure(event: str, exc: BaseException, value: Any) -> None:
        if isinstance(exc, ReactorError) and (exc is value or exc.emitted):
            # A handler raised an error the SDK has already emitted (say, a failed reconnect
            # inside on_error): it was reported once, don't log it twice.
            logger.debug("%r handler re-raised the emitted error: %s", event, exc)
            return
        logger.error("%r handler raised", event, exc_info=exc)

    def cancel_tasks(self) -> list[asyncio.Task[None]]:
        """Cancel every handler task still running; returns them so that callers may await."""
        current = asyncio.current_task() if _loop_running() else None
        tasks = [t for t in self._tasks if t is not current and not t.done()]
        for task in tasks:
            task.cancel()
        return tasks


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
