"""Headless rendering: OpenGL backend choice, fast offscreen renderers and MP4 writing.

MuJoCo binds its OpenGL backend when it is first imported, so `configure_gl_backend` runs from
`mimicsim/__init__.py` before any mimicsim module imports mujoco. EGL is the default; OSMesa is the
fallback when EGL's library is missing. A user's own MUJOCO_GL always wins.
"""

from __future__ import annotations

import ctypes.util
import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mimicsim.errors import ConfigError, RenderingError

if TYPE_CHECKING:
    import mujoco

_INSTALL_HINT = (
    "install Mesa's EGL (Debian: libegl1 libegl-mesa0 libgl1-mesa-dri) or OSMesa (libosmesa6) "
    "with `make system-deps`, or set MUJOCO_GL to a backend that works here"
)


def configure_gl_backend() -> str:
    """Pick MUJOCO_GL (egl, else osmesa) unless the user set it; returns the backend in force."""
    if "MUJOCO_GL" not in os.environ:
        if ctypes.util.find_library("EGL") is None and ctypes.util.find_library("OSMesa") is not None:
            os.environ["MUJOCO_GL"] = "osmesa"
        else:
            os.environ["MUJOCO_GL"] = "egl"
    backend = os.environ["MUJOCO_GL"].lower()
    if backend in ("egl", "osmesa"):
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return backend


def gl_backend() -> str:
    return os.environ.get("MUJOCO_GL", "")


def _bind_headless_context() -> None:
    """When mujoco was imported before mimicsim (so before MUJOCO_GL was chosen), it bound the
    windowed GLFW backend; rebind its renderer to the headless backend chosen here."""
    import sys

    from mujoco.rendering.classic import gl_context

    backend = gl_backend()
    bound = getattr(gl_context, "_MUJOCO_GL", backend)
    if bound == backend or backend not in ("egl", "osmesa"):
        return
    if "OpenGL" in sys.modules and os.environ.get("PYOPENGL_PLATFORM") != backend:
        raise RenderingError(
            f"mujoco and PyOpenGL were imported before mimicsim chose MUJOCO_GL={backend}; "
            f"import mimicsim first or set MUJOCO_GL={backend} in the environment"
        )
    module = importlib.import_module(f"mujoco.{backend}")
    gl_context.GLContext = module.GLContext
    gl_context._MUJOCO_GL = backend


def make_renderer(
    model: mujoco.MjModel, width: int = 640, height: int = 480, *, quality: bool = False
) -> mujoco.Renderer:
    """An offscreen renderer. Fast settings (no shadows, reflections or multisampling) unless
    `quality`: on llvmpipe that is ~8x faster (5 -> 40 fps for G1)."""
    import mujoco

    check_image_size(width, height)
    _bind_headless_context()
    model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), width)
    model.vis.global_.offheight = max(int(model.vis.global_.offheight), height)
    if not quality:
        model.vis.quality.offsamples = 0
        model.vis.quality.shadowsize = 0
    try:
        renderer = mujoco.Renderer(model, height=height, width=width)
    except Exception as exc:  # the GL stack reports failures with many exception types
        raise RenderingError(
            f"cannot create an offscreen OpenGL context with MUJOCO_GL={gl_backend()!r} ({exc}); " + _INSTALL_HINT
        ) from exc
    if not quality:
        renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
    return renderer


MAX_IMAGE_SIDE = 8192


def check_image_size(width: int, height: int) -> None:
    """`ConfigError` unless both sides are between 16 and `MAX_IMAGE_SIDE` pixels."""
    for name, value in (("width", width), ("height", height)):
        if not 16 <= value <= MAX_IMAGE_SIDE:
            raise ConfigError(f"image {name} must be 16-{MAX_IMAGE_SIDE} pixels, got {value}")


def tracking_camera(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    body: str | int = 1,
    *,
    distance: float = 3.0,
    azimuth: float = 135.0,
    elevation: float = -15.0,
) -> mujoco.MjvCamera:
    """A free camera looking at `body` from a fixed offset, for following a moving robot."""
    import mujoco

    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    cam.trackbodyid = body if isinstance(body, int) else model.body(body).id
    cam.distance = distance
    cam.azimuth = azimuth
    cam.elevation = elevation
    return cam


class VideoWriter:
    """Frames in, an MP4 out (see `video_writer`)."""

    def __init__(self, writer: Any):
        self._writer = writer
        self.frames = 0

    def append_data(self, frame: np.ndarray) -> None:
        self._writer.append_data(frame)
        self.frames += 1


@contextmanager
def video_writer(path: str | Path, fps: float) -> Iterator[VideoWriter]:
    """An MP4 writer (H.264, yuv420p) that appears at `path` only when complete and not empty."""
    import imageio.v2 as imageio

    from mimicsim.atomic import atomic_path

    if not (np.isfinite(fps) and 0 < fps <= 1000):
        raise ConfigError(f"video frame rate must be in (0, 1000] frames per second, got {fps}")
    with atomic_path(path) as tmp:
        writer = VideoWriter(
            imageio.get_writer(
                tmp,
                format="FFMPEG",
                fps=fps,
                codec="libx264",
                quality=7,
                macro_block_size=8,
                pixelformat="yuv420p",
                ffmpeg_log_level="error",
            )
        )
        try:
            yield writer
        finally:
            writer._writer.close()
        if writer.frames == 0:
            raise RenderingError(f"{path}: no frames to write")


def write_png(path: str | Path, image: np.ndarray) -> Path:
    import imageio.v2 as imageio

    from mimicsim.atomic import atomic_path

    with atomic_path(path) as tmp:
        imageio.imwrite(tmp, image, format="PNG")
    return Path(path)
