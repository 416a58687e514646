"""Synthetic camera clips for demos and load tests, encoded with PyAV and cached on disk.

Each clip looks like a fixed camera: a scene-like background (sky, buildings, road texture)
with sensor noise so the bitrate is realistic, vehicles crossing on lanes, the camera's name
burnt in at the top and a running clock at the bottom. Content is a function of the seed, and
motion is periodic over the clip length, so a looping clip shows no jump except the clock.

Encoding settings mirror what the hub relays best: H.264 constrained baseline (or H.265 main)
without B-frames, a fixed GOP (keyframe every ``gop`` frames, no scene cut), zero-latency
tuning and SPS/PPS repeated in-band before every keyframe. Clips are MP4 (``faststart``),
written to a temporary name and renamed; a sidecar ``.json`` records the parameters so a second
:func:`make_clip` with the same parameters returns the file without encoding.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

logger = logging.getLogger(__name__)

#: Bump when the generator or the encoder settings change: cached clips are then re-encoded.
GENERATOR_VERSION = 1

_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/droid"))
_LATIN_FONT = "DejaVuSans-Bold.ttf"
_CJK_FONT = "DroidSansFallbackFull.ttf"
_NOISE_PLANES = 5
_FORMATS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov"}


@dataclass(frozen=True, slots=True)
class ClipProfile:
    """Resolution, frame rate and target bitrate (bit/s) of one camera stream profile."""

    name: str
    width: int
    height: int
    fps: int
    bitrate: int
    gop: int = 50
    #: amplitude of the temporal (sensor) noise added to the luma plane
    noise: int = 4


PROFILES: dict[str, ClipProfile] = {
    p.name: p
    for p in (
        ClipProfile("main1080", 1920, 1080, 25, 4_000_000),
        ClipProfile("main720", 1280, 720, 25, 2_000_000),
        ClipProfile("sub360", 640, 360, 25, 500_000),
    )
}


def _font(size: int, text: str) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    wanted = _LATIN_FONT if text.isascii() else _CJK_FONT
    for directory in _FONT_DIRS:
        for name in (wanted, _LATIN_FONT):
            path = directory / name
            if path.exists():
                return ImageFont.truetype(str(path), size)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: a small bitmap font
        return ImageFont.load_default()


def _text_plate(text: str, size: int,
                font: ImageFont.FreeTypeFont | ImageFont.ImageFont | None = None) -> np.ndarray:
    """Render white text on a dark plate as a luma array (height, width)."""
    font = font or _font(size, text)
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text,
                                                                                font=font)
    pad = max(2, size // 4)
    image = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 24)
    ImageDraw.Draw(image).text((pad - left, pad - top), text, fill=235, font=font)
    return np.asarray(image)


class _Scene:
    """Generates the yuv420p frames of one clip cheaply with numpy (no per-frame RGB)."""

    def __init__(self, profile: ClipProfile, name: str, seed: int, frames: int) -> None:
        w, h = profile.width, profile.height
        if w % 2 or h % 2:
            raise ValueError("width and height must be even")
        self.profile = profile
        self.frames = frames
        rng = np.random.default_rng(seed)
        self._base = np.empty((h * 3 // 2, w), np.uint8)
        y, u, v = self._planes(self._base)
        limit = 235 - profile.noise
        y[:] = self._background(rng, w, h).clip(16, limit)
        tint = rng.integers(96, 160, size=4)
        u[:] = np.linspace(tint[0], tint[1], h // 2, dtype=np.float32)[:, None]
        v[:] = np.linspace(tint[2], tint[3], w // 2, dtype=np.float32)[None, :]
        self._noise = rng.integers(0, profile.noise + 1, size=(_NOISE_PLANES, h, w),
                                   dtype=np.uint8)
        self._vehicles = self._make_vehicles(rng, w, h, limit)
        self._name = _text_plate(name, max(12, h // 20))
        self._clock_size = max(10, h // 28)
        self._clock_font = _font(self._clock_size, "0")

    @staticmethod
    def _planes(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = buf.shape[1]
        h = buf.shape[0] * 2 // 3
        y = buf[:h]
        u = buf[h:h + h // 4].reshape(h // 2, w // 2)
        v = buf[h + h // 4:].reshape(h // 2, w // 2)
        return y, u, v

    @staticmethod
    def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
        horizon = int(h * rng.uniform(0.35, 0.55))
        img = np.empty((h, w), np.float32)
        img[:horizon] = np.linspace(rng.uniform(150, 210), rng.uniform(100, 150),
                                    horizon)[:, None]
        img[horizon:] = np.linspace(rng.uniform(60, 90), rng.uniform(90, 130),
                                    h - horizon)[:, None]
        for _ in range(int(rng.integers(6, 14))):  # buildings on the horizon
            bw = int(rng.integers(w // 30, w // 8))
            bh = int(rng.integers(h // 10, horizon))
            x = int(rng.integers(0, w - bw))
            img[horizon - bh:horizon, x:x + bw] = rng.uniform(40, 170)
            img[horizon - bh:horizon:max(4, h // 60), x:x + bw] += 25  # window rows
        # coarse texture (upsampled random blocks) and fine static detail
        block = max(4, h // 45)
        coarse = rng.normal(0, 10, size=(h // block + 1, w // block + 1)).astype(np.float32)
        img += np.repeat(np.repeat(coarse, block, 0), block, 1)[:h, :w]
        img += rng.normal(0, 6, size=(h, w)).astype(np.float32)
        return img

    def _make_vehicles(self, rng: np.random.Generator, w: int, h: int,
                       limit: int) -> list[tuple[int, int, int, int, int, int, int, int]]:
        """(lane y, height, width, start x, laps per clip, luma, u, v) of each vehicle."""
        vehicles = []
        for _ in range(int(rng.integers(3, 7))):
            vh = int(rng.integers(h // 16, h // 7)) & ~1
            vw = int(rng.integers(w // 12, w // 5)) & ~1
            lane = int(rng.integers(h // 2, h - vh)) & ~1
            laps = int(rng.integers(1, 4)) * (1 if rng.random() < 0.5 else -1)
            vehicles.append((lane, vh, vw, int(rng.integers(0, w)), laps,
                             int(rng.integers(30, limit)), int(rng.integers(60, 200)),
                             int(rng.integers(60, 200))))
        return vehicles

    def frame(self, index: int) -> av.VideoFrame:
        p = self.profile
        buf = self._base.copy()
        y, u, v = self._planes(buf)
        phase = (index % self.frames) / self.frames
        span = p.width
        for lane, vh, vw, x0, laps, luma, cu, cv in self._vehicles:
            x = int(x0 + phase * laps * span) % span
            for start, stop in ((x, min(x + vw, span)), (0, max(0, x + vw - span))):
                if stop > start:
                    y[lane:lane + vh, start:stop] = luma
                    u[lane // 2:(lane + vh) // 2, start // 2:stop // 2] = cu
                    v[lane // 2:(lane + vh) // 2, start // 2:stop // 2] = cv
        np.add(y, self._noise[index % _NOISE_PLANES], out=y)
        self._paste(buf, self._name, 8, 8)
        seconds = index / p.fps
        clock = f"{8 + int(seconds // 3600):02d}:{int(seconds // 60 % 60):02d}:{seconds % 60:05.2f}"
        plate = _text_plate(clock, self._clock_size, self._clock_font)
        self._paste(buf, plate, p.height - plate.shape[0] - 8, p.width - plate.shape[1] - 8)
        # wraps ``buf`` without a copy: each frame owns a fresh buffer
        frame = av.VideoFrame.from_numpy_buffer(buf, format="yuv420p")
        frame.pts = index
        return frame

    def _paste(self, buf: np.ndarray, plate: np.ndarray, top: int, left: int) -> None:
        y, u, v = self._planes(buf)
        ph = min(plate.shape[0], y.shape[0] - top) & ~1
        pw = min(plate.shape[1], y.shape[1] - left) & ~1
        top, left = top & ~1, left & ~1
        if ph <= 0 or pw <= 0:
            return
        y[top:top + ph, left:left + pw] = plate[:ph, :pw]
        u[top // 2:(top + ph) // 2, left // 2:(left + pw) // 2] = 128
        v[top // 2:(top + ph) // 2, left // 2:(left + pw) // 2] = 128


def _encoder_options(profile: ClipProfile, codec: str) -> tuple[str, dict[str, str]]:
    kbit = profile.bitrate // 1000
    common = (f"keyint={profile.gop}:min-keyint={profile.gop}:scenecut=0:bframes=0"
              f":repeat-headers=1:vbv-maxrate={kbit}:vbv-bufsize={kbit}")
    if codec == "h264":
        return "libx264", {"preset": "ultrafast", "tune": "zerolatency",
                           "profile": "baseline", "x264-params": common}
    if codec == "h265":
        return "libx265", {"preset": "ultrafast", "tune": "zerolatency",
                           "x265-params": common + ":log-level=error"}
    raise ValueError(f"codec must be 'h264' or 'h265', not {codec!r}")


def _encode(tmp: Path, fmt: str, scene: _Scene, codec: str) -> None:
    profile = scene.profile
    encoder, options = _encoder_options(profile, codec)
    container_options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
    with av.open(str(tmp), "w", format=fmt, options=container_options) as container:
        stream = container.add_stream(encoder, rate=profile.fps, options=options)
        stream.width = profile.width
        stream.height = profile.height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.bit_rate = profile.bitrate
        for index in range(scene.frames):
            container.mux(stream.encode(scene.frame(index)))
        container.mux(stream.encode(None))


def _parameters(name: str, profile: ClipProfile, seconds: float, seed: int,
                codec: str) -> dict[str, object]:
    return {"version": GENERATOR_VERSION, "name": name, "profile": asdict(profile),
            "seconds": seconds, "seed": seed, "codec": codec}


def make_clip(path: str | os.PathLike[str], *, name: str, profile: str | ClipProfile,
              seconds: float = 10, seed: int = 0, codec: str = "h264") -> Path:
    """Encode (or reuse) a synthetic camera clip at ``path`` (.mp4, .mkv or .mov).

    ``profile`` is a :data:`PROFILES` key or a :class:`ClipProfile`. Blocking (encoding takes
    about 1.2 s per 10 s of 720p on this 2-core host): async callers run it in a thread.
    """
    path = Path(path)
    if isinstance(profile, str):
        try:
            profile = PROFILES[profile]
        except KeyError:
            raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})") \
                from None
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"clip path must end with one of {', '.join(_FORMATS)}: {path}")
    frames = round(seconds * profile.fps)
    if frames < 1:
        raise ValueError("a clip needs at least one frame")
    params = _parameters(name, profile, seconds, seed, codec)
    sidecar = path.with_name(path.name + ".json")
    try:
        if path.exists() and json.loads(sidecar.read_text()) == params:
            return path
    except (OSError, ValueError):
        pass  # missing or unreadable sidecar: encode again
    _encoder_options(profile, codec)  # validate the codec before any work
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = secrets.token_hex(4)
    tmp = path.with_name(f".{path.stem}.{suffix}.tmp{path.suffix}")
    tmp_sidecar = sidecar.with_name(f".{sidecar.name}.{suffix}.tmp")
    try:
        _encode(tmp, fmt, _Scene(profile, name, seed, frames), codec)
        os.replace(tmp, path)
        tmp_sidecar.write_text(json.dumps(params, sort_keys=True))
        os.replace(tmp_sidecar, sidecar)
    finally:
        for leftover in (tmp, tmp_sidecar):
            leftover.unlink(missing_ok=True)
    logger.info("encoded clip %s (%s, %s s, seed %d, %s)", path, profile.name, seconds, seed,
                codec)
    return path
