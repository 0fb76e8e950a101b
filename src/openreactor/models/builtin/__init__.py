"""Built-in models, by name (``openreactor models`` lists them)."""

from __future__ import annotations

from openreactor.models.api import Model
from openreactor.models.builtin.echo import EchoModel
from openreactor.models.builtin.probe import ProbeModel
from openreactor.models.builtin.webcam import WebcamModel
from openreactor.models.builtin.world import WorldModel

BUILTIN_MODELS: dict[str, type[Model]] = {
    EchoModel.name: EchoModel,
    ProbeModel.name: ProbeModel,
    WebcamModel.name: WebcamModel,
    WorldModel.name: WorldModel,
}
