"""Runs one model for one session: paces its frames, applies commands between frames.

All calls into the model (hooks, command handlers, ``next_frame``) happen on one worker thread
owned by the runner, so the model needs no locking and never blocks the event loop. Frame ``n``
is due at ``start + n / fps``; a runner that falls behind rebases its clock instead of bursting
to catch up (a burst would only queue frames ahead of the encoders).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from openreactor.models.api import CommandError, Frame, Message, Model
from openreactor.models.frame_slot import FrameSlot
from openreactor.models.schema import CommandValidator

log = logging.getLogger(__name__)


class _Context:
    """The :class:`~openreactor.models.api.ModelContext` a runner hands to its model."""

    def __init__(
        self,
        session_id: str,
        broadcast: Callable[[Message], None],
        input_frame: Callable[[str], Frame | None],
    ) -> None:
        self._session_id = session_id
        self._broadcast = broadcast
        self._input_frame = input_frame
        self.frame_index = 0

    @property
    def session_id(self) -> str:
        return self._session_id

    def broadcast(self, message: Message) -> None:
        self._broadcast(message)

    def input_frame(self, track: str) -> Frame | None:
        return self._input_frame(track)


@dataclass(slots=True)
class _PendingCommand:
    name: str
    data: dict[str, Any]
    future: asyncio.Future[Message | None]


class ModelRunner:
    """Owns the model's loop task and worker thread for one session."""

    def __init__(
        self,
        model: Model,
        slot: FrameSlot,
        *,
        session_id: str,
        on_message: Callable[[Message], None],
        on_crash: Callable[[BaseException], None],
        input_frame: Callable[[str], Frame | None] = lambda track: None,
    ) -> None:
        self.model = model
        self.slot = slot
        self._on_message = on_message
        self._on_crash = on_crash
        self._loop = asyncio.get_running_loop()
        self._ctx = _Context(session_id, self._broadcast_threadsafe, input_frame)
        self._validator = CommandValidator(model.command_specs())
        self._pending: list[_PendingCommand] = []
        self._in_flight: list[_PendingCommand] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"model-{model.name}")
        self._task: asyncio.Task[None] | None = None
        self.frames_generated = 0

    def _broadcast_threadsafe(self, message: Message) -> None:
        self._loop.call_soon_threadsafe(self._on_message, message)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"runner-{self._ctx.session_id}")

    def enqueue(self, name: str, data: dict[str, Any]) -> asyncio.Future[Message | None]:
        """Validate and queue a command; the future resolves once it was applied between two frames.

        Commands are applied in the order they were enqueued. Raises :class:`CommandError`
        (``invalid_command``) at once for an unknown command or arguments that violate the
        schema; the future fails with the model's own code, or ``internal_error`` when the
        handler raised something else.
        """
        return self.submit(name, self.validate(name, data))

    def validate(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """The arguments as the handler will get them (integers restored); raises ``invalid_command``."""
        specs = self.model.command_specs()
        if name in specs:
            return self._validator.validate(name, data)
        if not self.model.accepts_any_command():
            raise CommandError("invalid_command", f"unknown command {name!r}; known: {sorted(specs)}")
        return data

    def submit(self, name: str, data: dict[str, Any]) -> asyncio.Future[Message | None]:
        """Queue already validated arguments (see :meth:`validate`) for the next tick."""
        future: asyncio.Future[Message | None] = self._loop.create_future()
        self._pending.append(_PendingCommand(name, data, future))
        return future

    def _apply(self, command: _PendingCommand) -> Message | None | CommandError:
        spec = self.model.command_specs().get(command.name)
        try:
            if spec is None:
                return self.model.on_command(command.name, command.data)
            result: Message | None = getattr(self.model, spec.method)(**command.data)
            return result
        except CommandError as exc:
            return exc
        except Exception as exc:  # a handler bug refuses the command, it doesn't end the session
            log.exception("command %s failed", command.name)
            return CommandError("internal_error", f"{command.name} failed: {type(exc).__name__}: {exc}")

    def _tick(
        self, commands: list[_PendingCommand], index: int
    ) -> tuple[Frame | None, list[Message | None | CommandError]]:
        results = [self._apply(c) for c in commands]
        self._ctx.frame_index = index
        frame = self.model.next_frame(self._ctx)
        return frame, results

    async def _run(self) -> None:
        loop = self._loop
        try:
            await loop.run_in_executor(self._executor, self.model.on_session_start, self._ctx)
            period = 1.0 / max(self.model.fps, 1e-3)
            start = loop.time()
            index = 0
            while True:
                delay = start + index * period - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -period:
                    start = loop.time() - index * period
                commands, self._pending = self._pending, []
                self._in_flight = commands
                frame, results = await loop.run_in_executor(self._executor, self._tick, commands, index)
                for command, result in zip(commands, results, strict=True):
                    if command.future.done():
                        continue
                    if isinstance(result, CommandError):
                        command.future.set_exception(result)
                    else:
                        command.future.set_result(result)
                if frame is not None:
                    self.slot.publish(frame, loop.time())
                    self.frames_generated += 1
                index += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("model %s crashed", self.model.name)
            self._fail_pending(CommandError("model_error", f"the model crashed: {exc}"))
            self._on_crash(exc)

    def _fail_pending(self, error: CommandError) -> None:
        for command in self._in_flight + self._pending:
            if not command.future.done():
                command.future.set_exception(error)
        self._pending = []
        self._in_flight = []

    async def stop(self) -> None:
        """Stop the loop, run the end hook, release the worker thread. Safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            self._fail_pending(CommandError("session_ended", "the session ended"))
            try:
                await self._loop.run_in_executor(self._executor, self.model.on_session_end, self._ctx)
            except Exception:
                log.exception("on_session_end of %s failed", self.model.name)
        self.slot.close()
        self._executor.shutdown(wait=False)
