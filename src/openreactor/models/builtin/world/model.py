"""The ``world`` model: a prompt-driven *procedural* scene you can walk through (no neural network).

``openreactor serve`` runs it when no model is named. A prompt is read by keywords
(:mod:`~openreactor.models.builtin.world.scene`): time of day (dawn, day, dusk, night), terrain
(forest, ocean, city, desert, mountains, plains, space), weather (snow, rain, fog) and colour
words; unknown words hash to a terrain, a time of day and a colour cast, so every prompt gives a
distinct, stable scene. The scene is drawn by
:class:`~openreactor.models.builtin.world.render.SceneRenderer`: sky, sun or moon, stars, clouds,
parallax silhouette layers and a perspective ground, with falling snow or rain. ``move`` and
``turn`` steer the camera; ``set_image`` stands an uploaded picture in the world on a billboard
and tints the light with its colour. Scene changes cross-fade over :data:`FADE_S` seconds.

Everything expensive is precomputed when the scene changes (a few hundred ms, on a background
thread so that frames keep coming: the old scene stays on screen until the new one is ready);
a frame is then slices, masked copies and one gather, about 5 ms for 1280x720 on one core
(``bench/bench_world.py``).
"""

from __future__ import annotations

import math
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from openreactor.models.api import (
    CommandError,
    Frame,
    Message,
    Model,
    ModelContext,
    TrackSpec,
    UploadedFile,
    command,
)
from openreactor.models.builtin.world.render import Camera, SceneRenderer
from openreactor.models.builtin.world.scene import DEFAULT_PROMPT, RGB, SceneSpec, scene_from_prompt
from openreactor.models.schema import UPLOAD_REFERENCE_SCHEMA

FADE_S = 1.0
"""Seconds a scene change (prompt, image) takes to cross-fade."""
EASE_PER_S = 4.0
"""Camera rates and angles approach their targets at this rate (1/s, exponential)."""
MAX_FORWARD = 6.0
MAX_STRAFE = 4.0
"""Walking speeds at ``forward`` / ``strafe`` = 1, in world units per second (camera height 2)."""
IDLE_FORWARD, IDLE_STRAFE = 0.6, 0.35
"""The slow drift before the first ``move``, so the world is never still."""
MAX_IMAGE_PIXELS = 40_000_000
"""Larger images are refused before decoding (decompression bombs)."""

PROMPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prompt": {
            "type": "string",
            "minLength": 1,
            "maxLength": 500,
            "pattern": "\\S",
            "description": "What to show, e.g. 'a forest at dawn', 'ocean at night', 'a city in the snow'. "
            "Read by keywords: time of day, terrain, weather, colours; other words pick a stable "
            "scene of their own.",
        }
    },
    "required": ["prompt"],
    "additionalProperties": False,
}

MOVE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "forward": {
            "type": "number",
            "minimum": -1,
            "maximum": 1,
            "default": 0,
            "description": "Walking speed ahead (negative: backwards), as a fraction of the top speed.",
        },
        "strafe": {
            "type": "number",
            "minimum": -1,
            "maximum": 1,
            "default": 0,
            "description": "Sideways speed (positive: to the right), as a fraction of the top speed.",
        },
    },
    "additionalProperties": False,
}

TURN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "yaw": {
            "type": "number",
            "minimum": -180,
            "maximum": 180,
            "default": 0,
            "description": "Degrees to turn left (negative) or right (positive), relative to now.",
        },
        "pitch": {
            "type": "number",
            "minimum": -45,
            "maximum": 45,
            "default": 0,
            "description": "Degrees to look up (positive) or down (negative), relative to now; "
            "the total pitch stays within -45..45.",
        },
    },
    "additionalProperties": False,
}

IMAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "image": {
            **UPLOAD_REFERENCE_SCHEMA,
            "description": "An uploaded image (PNG, JPEG, GIF, WebP, BMP ...) to stand in the world.",
        },
        "strength": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "default": 0.6,
            "description": "How much the image takes over: its billboard's size (25% to 60% of the "
            "frame height) and how far its average colour tints the scene's light (0 to 50%).",
        },
    },
    "required": ["image"],
    "additionalProperties": False,
}

RESET_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


def load_picture(upload: UploadedFile, max_w: int, max_h: int) -> npt.NDArray[np.uint8]:
    """Decode ``upload`` with Pillow into RGB that fits ``max_w`` x ``max_h``.

    Raises ``CommandError("invalid_image")`` for anything that is not a decodable image of at
    most :data:`MAX_IMAGE_PIXELS` pixels, and ``CommandError("unavailable")`` without Pillow.
    """
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - pillow is installed with the server
        raise CommandError("unavailable", "set_image needs Pillow (pip install pillow)") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload.path) as im:
                w, h = im.size
                if w <= 0 or h <= 0 or w * h > MAX_IMAGE_PIXELS:
                    raise CommandError(
                        "invalid_image",
                        f"{upload.name}: {w}x{h} pixels is over the limit of {MAX_IMAGE_PIXELS}",
                    )
                im.draft("RGB", (max_w, max_h))
                rgb = im.convert("RGB")
                rgb.thumbnail((max_w, max_h), Image.Resampling.LANCZOS)
                picture = np.asarray(rgb, dtype=np.uint8).copy()
    except CommandError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise CommandError(
            "invalid_image", f"{upload.name}: refused as a decompression bomb ({exc})"
        ) from exc
    except Exception as exc:  # any decoder failure: the file is not an image we can read
        raise CommandError("invalid_image", f"{upload.name}: not a readable image ({exc})") from exc
    if picture.ndim != 3 or picture.shape[0] < 1 or picture.shape[1] < 1:
        raise CommandError("invalid_image", f"{upload.name}: empty image")
    return picture


def scene_summary(spec: SceneSpec) -> dict[str, Any]:
    """How a prompt was understood (the reply to ``set_prompt``)."""
    return {
        "prompt": spec.prompt,
        "time": spec.time,
        "terrain": spec.terrain,
        "weather": spec.weather,
        "snowy": spec.snowy,
        "accent": None if spec.accent is None else [round(c) for c in spec.accent],
    }


class WorldModel(Model):
    """A procedural world: a prompt picks the scene, ``move``/``turn`` steer the camera."""

    name = "world"
    description = (
        "Procedural prompt-driven world (keyword rules and numpy drawing, no neural network): "
        "sky, terrain, weather and colours from the prompt; move and turn the camera; "
        "set_image stands an uploaded picture in the scene."
    )
    tracks = (TrackSpec("main_video", "video", "out"),)

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: float = 24.0,
        prompt: str = DEFAULT_PROMPT,
        background_build: bool = True,
    ) -> None:
        if width < 64 or height < 64:
            raise ValueError(f"world output must be at least 64x64, got {width}x{height}")
        self.width, self.height = int(width), int(height)
        self.fps = float(fps)
        self.initial_prompt = prompt
        self.background_build = background_build
        """Build changed scenes on a helper thread (frames keep coming meanwhile)."""
        self._builder: ThreadPoolExecutor | None = None
        self._pending: Future[SceneRenderer] | None = None
        self._picture: npt.NDArray[np.uint8] | None = None
        self._image_tint: RGB | None = None
        self._image_strength = 0.0
        self._reset_state()

    # -- state -----------------------------------------------------------------------------

    def _reset_state(self, build: bool = True) -> None:
        self.yaw = self.target_yaw = 0.0
        self.pitch = self.target_pitch = 0.0
        self.pos_x = self.pos_z = 0.0
        self.forward = self.strafe = 0.0
        self.target_forward, self.target_strafe = IDLE_FORWARD / MAX_FORWARD, IDLE_STRAFE / MAX_STRAFE
        self.t = 0.0
        self._picture = None
        self._image_tint = None
        self._image_strength = 0.0
        self._billboard_x: float | None = None
        self._fade_from: Frame | None = None
        self._fade_start = 0.0
        self._last_frame: Frame | None = None
        self._pending = None
        self.spec = scene_from_prompt(self.initial_prompt)
        """The scene asked for last (``renderer.spec`` is the one on screen)."""
        current: SceneRenderer | None = getattr(self, "renderer", None)
        if build and current is not None and current.spec == self.spec and current.billboard is None:
            current.restart()  # the same scene as before: keep its precomputed layers
        elif build:
            self.renderer = SceneRenderer(self.spec, self.width, self.height)

    def _rebuild(self, spec: SceneSpec) -> None:
        """Switch to ``spec`` (built in the background), cross-fading from the last frame shown."""
        spec = spec.with_image_tint(self._image_tint, 0.5 * self._image_strength if self._image_tint else 0.0)
        self.spec = spec
        picture, billboard_x, width, height = self._picture, self._billboard_x, self.width, self.height

        def build() -> SceneRenderer:
            renderer = SceneRenderer(spec, width, height)
            if picture is not None:
                renderer.set_billboard(picture, billboard_x)
            return renderer

        if not self.background_build:
            self._show(build())
            return
        if self._builder is None:
            self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="world-build")
        self._pending = self._builder.submit(build)  # the newest request wins; older ones are dropped

    def _show(self, renderer: SceneRenderer) -> None:
        self.renderer = renderer
        if self._last_frame is not None:
            self._fade_from = self._last_frame
            self._fade_start = self.t

    def _poll_build(self) -> None:
        pending = self._pending
        if pending is not None and pending.done():
            self._pending = None
            self._show(pending.result())

    def wait_for_scene(self, timeout: float = 60.0) -> None:
        """Block until the scene asked for last is on screen (tests, benchmarks, screenshots)."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._show(pending.result(timeout=timeout))

    @property
    def horizon_y(self) -> float:
        """Screen row of the horizon now."""
        return self.renderer.horizon(self.pitch)

    def on_session_start(self, ctx: ModelContext) -> None:
        self._reset_state()

    def on_session_end(self, ctx: ModelContext) -> None:
        self._pending = None
        if self._builder is not None:
            self._builder.shutdown(wait=False, cancel_futures=True)
            self._builder = None

    # -- commands ----------------------------------------------------------------------------

    @command("set_prompt", schema=PROMPT_SCHEMA)
    def set_prompt(self, prompt: str) -> Message:
        """Change the scene to what ``prompt`` describes (cross-fades over about a second).

        Replies ``scene`` with how the prompt was read: time, terrain, weather, snowy, accent.
        """
        if not prompt.strip():
            raise CommandError("invalid_command", "set_prompt: prompt: must not be blank")
        self._rebuild(scene_from_prompt(prompt))
        return Message("scene", scene_summary(self.spec))

    @command("move", schema=MOVE_SCHEMA)
    def move(self, forward: float = 0.0, strafe: float = 0.0) -> None:
        """Set the camera's walking velocity (held until the next ``move``; 0, 0 stops)."""
        self.target_forward = max(-1.0, min(1.0, float(forward)))
        self.target_strafe = max(-1.0, min(1.0, float(strafe)))

    @command("turn", schema=TURN_SCHEMA)
    def turn(self, yaw: float = 0.0, pitch: float = 0.0) -> None:
        """Turn the camera by ``yaw`` degrees (right positive) and tilt it by ``pitch`` (up positive)."""
        self.target_yaw += float(yaw)
        self.target_pitch = max(-45.0, min(45.0, self.target_pitch + float(pitch)))

    @command("set_image", schema=IMAGE_SCHEMA)
    def set_image(self, image: UploadedFile, strength: float = 0.6) -> Message:
        """Stand the uploaded image in the world on a billboard and tint the light with its colour.

        Refuses files that are not readable images, or are over 40 megapixels, with
        ``invalid_image``. Replies ``image_set`` with the shown size and average colour.
        """
        if not isinstance(image, UploadedFile):
            raise CommandError("invalid_image", "image: expected an uploaded file")
        strength = max(0.0, min(1.0, float(strength)))
        max_h = max(8, int(self.height * (0.25 + 0.35 * strength)))
        max_w = max(8, int(self.width * 0.5))
        picture = load_picture(image, max_w, max_h)
        mean = picture.reshape(-1, 3).mean(axis=0)
        self._picture = picture
        self._image_tint = (float(mean[0]), float(mean[1]), float(mean[2]))
        self._image_strength = strength
        r = self.renderer
        yaw_px = self.yaw / 360.0 * r.pano
        self._billboard_x = yaw_px + self.pos_x * r.f / 14.0 + r.cx + 0.06 * self.width
        self._rebuild(scene_from_prompt(self.spec.prompt))
        return Message(
            "image_set",
            {
                "width": int(picture.shape[1]),
                "height": int(picture.shape[0]),
                "mean_rgb": [round(float(c)) for c in mean],
            },
        )

    @command("reset", schema=RESET_SCHEMA)
    def reset(self) -> None:
        """Back to the start: the initial prompt, the camera at the origin, no image."""
        last = self._last_frame
        self._reset_state(build=False)
        self._last_frame = last
        self._rebuild(self.spec)

    # -- frames ------------------------------------------------------------------------------

    def _advance(self, dt: float) -> None:
        k = 1.0 - math.exp(-EASE_PER_S * dt)
        self.yaw += (self.target_yaw - self.yaw) * k
        self.pitch += (self.target_pitch - self.pitch) * k
        self.forward += (self.target_forward - self.forward) * k
        self.strafe += (self.target_strafe - self.strafe) * k
        self.pos_z += self.forward * MAX_FORWARD * dt
        self.pos_x += self.strafe * MAX_STRAFE * dt
        if abs(self.target_yaw) > 3600.0:  # keep the angles small; a whole turn changes nothing
            turns = 360.0 * math.floor(self.target_yaw / 360.0)
            self.target_yaw -= turns
            self.yaw -= turns
        self.t += dt

    def next_frame(self, ctx: ModelContext) -> Frame:
        dt = 1.0 / self.fps if self.fps > 0 else 1.0 / 24.0
        self._advance(dt)
        self._poll_build()
        cam = Camera(self.yaw, self.pitch, self.pos_x, self.pos_z, self.t)
        frame = self.renderer.render(cam, dt)
        if self._fade_from is not None:
            a = (self.t - self._fade_start) / FADE_S
            if a >= 1.0 or self._fade_from.shape != frame.shape:
                self._fade_from = None
            else:
                w = np.uint16(max(0, min(256, int(a * 256))))
                mixed = frame.astype(np.uint16)
                mixed *= w
                old = self._fade_from.astype(np.uint16)
                old *= np.uint16(256) - w
                mixed += old
                mixed >>= np.uint16(8)
                frame = mixed.astype(np.uint8)
        self._last_frame = frame
        return frame
