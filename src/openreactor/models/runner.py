"""Runs one model for one session: generation, pacing, commands and hooks.

Two halves:

* :class:`ModelDriver` is everything that touches the model, synchronously, on one worker
  thread: hooks, command handlers, resuming the generation loop, converting what it yields into
  RGB frames. The model never needs locking and never blocks the event loop.
  :mod:`openreactor.testing` drives it directly.
* :class:`ModelRunner` lives on the event loop. It feeds the driver the session's events (commands,
  clients coming and going, uploads) in arrival order, and hands generated frames to a
  :class:`~openreactor.models.playout.PlayoutBuffer` of one chunk that paces them into the
  session's :class:`FrameSlot`. While the buffer is full the generator is not resumed, and it is
  resumed just early enough (from measured generation time) for its output to be ready when the
  buffer runs dry. Events that arrive while generation is paused are applied at once: commands
  never wait for a frame that nobody needs yet.

Every call into the model has a deadline (``step_timeout_s``). A call that overruns it ends the
session (:class:`ModelTimeoutError` to ``on_crash``) and its thread is abandoned
(:mod:`openreactor.models.model_thread`): ``on_session_end`` is then skipped, since the model is
still busy in the stuck call and is never called from two threads at once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from openreactor.models.api import CommandError, Frame, Message, Model, UploadedFile
from openreactor.models.arguments import snake_case, to_wire
from openreactor.models.frame_slot import FrameSlot
from openreactor.models.model_thread import ModelThread
from openreactor.models.outputs import to_frames
from openreactor.models.playout import PlayoutBuffer
from openreactor.models.schema import CommandValidator, component_schemas
from openreactor.process_memory import release_memory

log = logging.getLogger(__name__)

HookName = Literal["client_connected", "client_disconnected", "file_uploaded"]


@dataclass(frozen=True, slots=True)
class CommandCall:
    """A validated command (JSON arguments, files resolved) on its way to the model."""

    name: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HookCall:
    """A session event for one of the model's hooks."""

    hook: HookName
    arg: Any


ModelEvent = CommandCall | HookCall
CommandResult = Message | None | CommandError
T = TypeVar("T")


class ModelTimeoutError(Exception):
    """A call into the model did not return within the runner's ``step_timeout_s``."""


def as_message(model: Model, value: Any) -> Message | None:
    """A handler's return value or a broadcast as a :class:`Message`; ``TypeError`` if undeclared."""
    if value is None or isinstance(value, Message):
        return value
    declared = model.message_types()
    wire_type = snake_case(type(value).__name__)
    if declared.get(wire_type) is not type(value):
        raise TypeError(
            f"{type(value).__name__} is not a declared message: list it in {type(model).__name__}.messages"
        )
    return Message(wire_type, to_wire(value))


class RunnerContext:
    """The :class:`~openreactor.models.api.ModelContext` a runner hands to its model."""

    def __init__(
        self,
        model: Model,
        session_id: str,
        broadcast: Callable[[Message], None],
        input_frame: Callable[[str], Frame | None],
    ) -> None:
        self._model = model
        self._session_id = session_id
        self._broadcast = broadcast
        self._input_frame = input_frame
        self.frame_index = 0
        self.client_count = 0

    @property
    def session_id(self) -> str:
        return self._session_id

    def broadcast(self, message: Any) -> None:
        converted = as_message(self._model, message)
        if converted is None:
            raise TypeError("broadcast needs a Message or a declared message record, not None")
        self._broadcast(converted)

    def input_frame(self, track: str) -> Frame | None:
        return self._input_frame(track)


class ModelDriver:
    """Calls into one model for one session; every method runs on the model's worker thread."""

    def __init__(self, model: Model, ctx: RunnerContext, validator: CommandValidator) -> None:
        self.model = model
        self.ctx = ctx
        self._validator = validator
        self._specs = model.command_specs()
        self._generator: Iterator[Any] | AsyncIterator[Any] | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self.frame_index = 0

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a sync or async model function (async ones run on this thread's own loop)."""
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            if self._aloop is None:
                self._aloop = asyncio.new_event_loop()
            return self._aloop.run_until_complete(result)
        return result

    def start(self) -> None:
        """Reset the state fields, then ``on_session_start``."""
        self.model.reset_state()
        self._call(self.model.on_session_start, self.ctx)

    def apply(self, event: ModelEvent) -> CommandResult:
        """Run one command (its reply, or the error to send) or one hook (``None``)."""
        if isinstance(event, HookCall):
            self._hook(event)
            return None
        spec = self._specs.get(event.name)
        try:
            if spec is None:
                result = self._call(self.model.on_command, event.name, event.data)
            elif spec.state_field is not None:
                args = self._validator.to_arguments(event.name, event.data)
                setattr(self.model, spec.state_field, args[spec.state_field])
                result = None
            else:
                args = self._validator.to_arguments(event.name, event.data)
                result = self._call(getattr(self.model, spec.method), **args)
            return as_message(self.model, result)
        except CommandError as exc:
            return exc
        except Exception as exc:  # a handler bug refuses the command, it doesn't end the session
            log.exception("command %s failed", event.name)
            return CommandError("internal_error", f"{event.name} failed: {type(exc).__name__}: {exc}")

    def _hook(self, event: HookCall) -> None:
        if event.hook == "client_connected":
            self.ctx.client_count += 1
            fn: Callable[..., Any] = self.model.on_client_connected
        elif event.hook == "client_disconnected":
            self.ctx.client_count = max(0, self.ctx.client_count - 1)
            fn = self.model.on_client_disconnected
        else:
            fn = self.model.on_file_uploaded
        try:
            self._call(fn, self.ctx, event.arg)
        except Exception:  # like a handler bug: logged, the session goes on
            log.exception("hook on_%s of %s failed", event.hook, self.model.name)

    def produce(self) -> list[Frame | None]:
        """Resume generation once: the frames of its next output (``[None]`` for an idle tick).

        A loop that returns is restarted (that call is an idle tick). Raises what the model raised.
        """
        self.ctx.frame_index = self.frame_index
        if self._generator is None:
            self._generator = self.model.generate(self.ctx)
        try:
            if isinstance(self._generator, AsyncIterator):
                output = self._call(self._generator.__anext__)
            else:
                output = next(self._generator)
        except (StopIteration, StopAsyncIteration):
            self._generator = None
            output = None
        frames = to_frames(output)
        self.frame_index += len(frames)
        return frames

    def step(self, events: list[ModelEvent]) -> tuple[list[Frame | None], list[CommandResult]]:
        """Apply ``events`` in order, then :meth:`produce`."""
        results = [self.apply(e) for e in events]
        return self.produce(), results

    def finish(self, events: list[ModelEvent]) -> None:
        """Apply the last hook events, close generation (its cleanup runs), ``on_session_end``."""
        for event in events:
            if isinstance(event, HookCall):
                self.apply(event)
        generator, self._generator = self._generator, None
        try:
            if isinstance(generator, AsyncIterator):
                aclose = getattr(generator, "aclose", None)
                if aclose is not None:
                    self._call(aclose)
            elif generator is not None:
                close = getattr(generator, "close", None)
                if close is not None:
                    close()
        except Exception:
            log.exception("closing the generation loop of %s failed", self.model.name)
        try:
            self._call(self.model.on_session_end, self.ctx)
        finally:
            if self._aloop is not None:
                self._aloop.close()
                self._aloop = None


def _describe(events: list[ModelEvent]) -> str:
    """Names of the model calls ``events`` make, for timeout messages."""
    names = [f"command {e.name}" if isinstance(e, CommandCall) else f"on_{e.hook}" for e in events]
    return ", ".join(dict.fromkeys(names)) or "a hook"


@dataclass(slots=True)
class _Pending:
    event: ModelEvent
    future: asyncio.Future[Message | None] | None


class _Timing:
    """Recent generation times; the 90th percentile predicts the next one."""

    def __init__(self, size: int = 30) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)

    @property
    def expected(self) -> float:
        if not self._samples:
            return 0.0
        ordered = sorted(self._samples)
        return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


class ModelRunner:
    """Owns the model's generation task, pacer and worker thread for one session."""

    def __init__(
        self,
        model: Model,
        slot: FrameSlot,
        *,
        session_id: str,
        on_message: Callable[[Message], None],
        on_crash: Callable[[BaseException], None],
        input_frame: Callable[[str], Frame | None] = lambda track: None,
        on_step: Callable[[float], None] | None = None,
        step_timeout_s: float | None = None,
    ) -> None:
        self.model = model
        self._on_step = on_step
        """Called with the seconds of each model step (events applied plus one generation resume)."""
        self.step_timeout_s = step_timeout_s if step_timeout_s and step_timeout_s > 0 else None
        """Deadline of each call into the model; ``None``: wait for ever."""
        self.slot = slot
        self._on_message = on_message
        self._on_crash = on_crash
        self._loop = asyncio.get_running_loop()
        self._ctx = RunnerContext(model, session_id, self._broadcast_threadsafe, input_frame)
        self._validator = CommandValidator(model.command_specs(), component_schemas(model))
        self._driver = ModelDriver(model, self._ctx, self._validator)
        self._pending: list[_Pending] = []
        self._in_flight: list[_Pending] = []
        self._wake = asyncio.Event()
        self._timing = _Timing()
        self._playout = PlayoutBuffer(model.fps, self._publish, self._wake.set)
        self._executor = ModelThread(f"model-{model.name}")
        self._stuck_in: str | None = None
        """What the abandoned model thread was running when its deadline passed."""
        self._task: asyncio.Task[None] | None = None
        self.frames_generated = 0
        """Frames published into the slot so far."""

    @property
    def stuck(self) -> bool:
        """A call into the model overran its deadline; its thread was abandoned."""
        return self._stuck_in is not None

    async def _in_model(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the model thread, within ``step_timeout_s``, else :class:`ModelTimeoutError`."""
        future = self._loop.run_in_executor(self._executor, fn, *args)
        deadline = asyncio.timeout(self.step_timeout_s)
        try:
            async with deadline:
                return await future
        except TimeoutError:
            if not deadline.expired():
                raise  # the model's own TimeoutError
            self._stuck_in = what
            interrupted = self._executor.abandon()
            log.error(
                "model %s: %s did not return within %g s; its thread is abandoned (%s)",
                self.model.name,
                what,
                self.step_timeout_s,
                "interrupt scheduled" if interrupted else "already gone",
            )
            raise ModelTimeoutError(
                f"the model did not return from {what} within {self.step_timeout_s:g} s"
            ) from None

    def _broadcast_threadsafe(self, message: Message) -> None:
        self._loop.call_soon_threadsafe(self._on_message, message)

    def _publish(self, frame: Frame) -> None:
        self.slot.publish(frame, self._loop.time())
        self.frames_generated += 1

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"runner-{self._ctx.session_id}")

    # -- events in ------------------------------------------------------------------------------

    def enqueue(self, name: str, data: dict[str, Any]) -> asyncio.Future[Message | None]:
        """Validate and queue a command; the future resolves once it was applied between two frames.

        Commands are applied in the order they were enqueued. Raises :class:`CommandError`
        (``invalid_command``) at once for an unknown command or arguments that violate the
        schema; the future fails with the model's own code, or ``internal_error`` when the
        handler raised something else.
        """
        return self.submit(name, self.validate(name, data))

    def validate(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """The arguments as JSON (integers restored), or ``CommandError("invalid_command")``."""
        specs = self.model.command_specs()
        if name in specs:
            return self._validator.validate(name, data)
        if not self.model.accepts_any_command():
            raise CommandError("invalid_command", f"unknown command {name!r}; known: {sorted(specs)}")
        return data

    def submit(self, name: str, data: dict[str, Any]) -> asyncio.Future[Message | None]:
        """Queue already validated arguments (see :meth:`validate`) for the model."""
        future: asyncio.Future[Message | None] = self._loop.create_future()
        self._queue(_Pending(CommandCall(name, data), future))
        return future

    def notify_client_connected(self, connection_id: int) -> None:
        self._queue(_Pending(HookCall("client_connected", connection_id), None))

    def notify_client_disconnected(self, connection_id: int) -> None:
        self._queue(_Pending(HookCall("client_disconnected", connection_id), None))

    def notify_file_uploaded(self, file: UploadedFile) -> None:
        self._queue(_Pending(HookCall("file_uploaded", file), None))

    def _queue(self, pending: _Pending) -> None:
        self._pending.append(pending)
        self._wake.set()

    # -- the loop -------------------------------------------------------------------------------

    def _take(self) -> list[_Pending]:
        taken, self._pending = self._pending, []
        self._in_flight = taken
        return taken

    def _settle(self, taken: list[_Pending], results: list[CommandResult]) -> None:
        for pending, result in zip(taken, results, strict=True):
            future = pending.future
            if future is None or future.done():
                continue
            if isinstance(result, CommandError):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._in_flight = []

    async def _apply_pending(self) -> None:
        taken = self._take()
        events = [p.event for p in taken]
        results = await self._in_model(_describe(events), lambda: [self._driver.apply(e) for e in events])
        self._settle(taken, results)

    async def _idle_until(self, seconds_left: Callable[[], float]) -> None:
        """Apply events as they arrive until ``seconds_left()`` is no longer positive."""
        while True:
            if self._pending:
                await self._apply_pending()
                continue
            delay = seconds_left()
            if delay <= 0:
                return
            self._wake.clear()
            # asyncio.timeout, not wait_for: 3.11's wait_for swallows a cancel that races a wake-up.
            try:
                async with asyncio.timeout(None if math.isinf(delay) else delay):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _generate(self) -> None:
        playout = self._playout
        while True:
            # Just in time: resume when the output will be needed, not before.
            await self._idle_until(lambda: playout.resume_delay(self._timing.expected))
            taken = self._take()
            started = time.perf_counter()
            events = [p.event for p in taken]
            frames, results = await self._in_model(
                "generate" + (f" (after {_describe(events)})" if events else ""), self._driver.step, events
            )
            elapsed = time.perf_counter() - started
            self._timing.add(elapsed)
            if self._on_step is not None:
                self._on_step(elapsed)
            self._settle(taken, results)
            # Back-pressure: the generator stays suspended while the buffer holds a chunk.
            await self._idle_until(lambda: 0.0 if playout.empty else math.inf)
            playout.put(frames)

    async def _run(self) -> None:
        pacer: asyncio.Task[None] | None = None
        try:
            await self._in_model("on_session_start", self._driver.start)
            pacer = asyncio.create_task(self._playout.run(), name=f"pacer-{self._ctx.session_id}")
            await self._generate()
        except asyncio.CancelledError:
            raise
        except ModelTimeoutError as exc:
            self._fail_pending(CommandError("model_timeout", str(exc)))
            self._on_crash(exc)
        except Exception as exc:
            log.exception("model %s crashed", self.model.name)
            self._fail_pending(CommandError("model_error", f"the model crashed: {exc}"))
            self._on_crash(exc)
        finally:
            if pacer is not None:
                pacer.cancel()
                await asyncio.gather(pacer, return_exceptions=True)

    def _fail_pending(self, error: CommandError) -> None:
        """Fail every queued or in-flight command; queued hook events stay queued."""
        for pending in self._in_flight + self._pending:
            if pending.future is not None and not pending.future.done():
                pending.future.set_exception(error)
        self._pending = [p for p in self._pending if p.future is None]
        self._in_flight = []

    async def stop(self, *, drop_state: bool = False) -> None:
        """Stop generation, run the last hooks and the end hook, release the thread. Idempotent.

        ``drop_state``: also reset the model's state fields and hand freed memory back to the OS
        (after a memory limit, so the next session starts from the memory the model began with).
        """
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            self._fail_pending(CommandError("session_ended", "the session ended"))
            hooks, self._pending = [p.event for p in self._pending], []
            if self._stuck_in is not None:
                log.warning(
                    "model %s: on_session_end skipped, its thread was abandoned in %s",
                    self.model.name,
                    self._stuck_in,
                )
            else:
                # Also bounded: a step still running when the session ended is waited for first.
                try:
                    await self._in_model("on_session_end", self._driver.finish, hooks)
                    if drop_state:
                        await self._in_model("reset_state", self._drop_state)
                except ModelTimeoutError:
                    pass  # logged by _in_model
                except Exception:
                    log.exception("on_session_end of %s failed", self.model.name)
        self.slot.close()
        self._executor.shutdown(wait=False)

    def _drop_state(self) -> None:
        self.model.reset_state()
        release_memory()
