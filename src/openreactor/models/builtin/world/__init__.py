"""The built-in ``world`` model: a prompt-driven procedural scene (numpy drawing, no neural network).

=================  ================================================================================
``model``          :class:`WorldModel`: commands (``set_prompt``, ``move``, ``turn``, ``set_image``,
                   ``reset``), the camera, cross-fades, scene builds in the background
``scene``          prompt -> :class:`~.scene.SceneSpec` (keywords; other words hash to a scene)
``render``         :class:`~.render.SceneRenderer`: builds the parts below, draws a frame
``stage``          screen, lens, light and random stream every part is built against; ``Camera``
``lighting``       sky colours, sun, fog, clouds from time of day, weather, tints
``sky``            gradient, sun / moon / ringed planet, stars, clouds
``terrain``        mountains, hills, dunes; which layers each terrain has
``trees``          pines and round trees
``buildings``      city blocks with windows
``layers``         panorama strips with parallax (what terrain, trees, buildings, clouds become)
``ground``         the textured ground in perspective, water glitter
``weather``        snow and rain particles
``billboard``      an uploaded picture standing in the scene
``pixels``         packed ``uint32`` pixels, mixing, noise, blur
=================  ================================================================================
"""

from openreactor.models.builtin.world.model import WorldModel

__all__ = ["WorldModel"]
