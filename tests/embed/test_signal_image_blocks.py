"""The ``signal`` embedder's image blocks on frames whose answers are known: gradient orientation
of stripes, quadrant colours (odd sizes too), PIL's HSV histograms, the JPEG scale chosen, and a
frame too small to describe."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avdata.embed.base import ClipEmbedError, ClipMedia
from avdata.embed.signal import clip_image_blocks, image_blocks, load_frame


def _stripes(vertical: bool, h: int = 48, w: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    v = np.where(((xx if vertical else yy) // 4) % 2 == 0, 40, 220).astype(np.uint8)
    return np.repeat(v[..., None], 3, axis=2)


def test_orientation_of_stripes() -> None:
    """Vertical stripes change along x (gradient angle 0 or pi: one unsigned bin, 0);
    horizontal stripes along y (pi/2: bin 4); a ramp rising at 56 degrees falls in bin 2."""
    vert = image_blocks(_stripes(True))["texture"]
    horiz = image_blocks(_stripes(False))["texture"]
    assert vert[0] == pytest.approx(1.0) and vert[1:8].sum() == pytest.approx(0.0, abs=1e-9)
    assert horiz[4] == pytest.approx(1.0) and np.delete(horiz[:8], 4).sum() == pytest.approx(0.0, abs=1e-9)
    yy, xx = np.mgrid[:40, :40]                                  # no wrap-around: at most 205
    ramp = np.repeat((xx * 2 + yy * 3 + 10).astype(np.uint8)[..., None], 3, axis=2)   # angle atan(1.5): 0.31 pi
    diag = image_blocks(ramp)["texture"]
    assert diag[2] == pytest.approx(1.0)
    flat = image_blocks(np.full((48, 64, 3), 77, np.uint8))["texture"]
    assert np.all(flat[:8] == 0) and flat[8] == pytest.approx(np.log(1e-4))


@pytest.mark.parametrize(("h", "w"), [(48, 64), (49, 63), (5, 4)])
def test_layout_is_the_mean_colour_of_each_quadrant(h: int, w: int) -> None:
    img = np.zeros((h, w, 3), np.uint8)
    hh, ww = h // 2, w // 2
    colours = {(0, 0): (255, 0, 0), (0, 1): (0, 255, 0), (1, 0): (0, 0, 255), (1, 1): (10, 20, 30)}
    for (r, c), rgb in colours.items():
        img[(slice(None, hh) if r == 0 else slice(hh, None)), (slice(None, ww) if c == 0 else slice(ww, None))] = rgb
    layout = image_blocks(img)["layout"]
    assert np.allclose(layout, np.concatenate([np.array(colours[k]) / 255.0 for k in sorted(colours)]))


def test_colour_histograms_follow_pil_hsv() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    hsv = np.asarray(Image.fromarray(img).convert("HSV")).reshape(-1, 3).astype(np.float64) / 255.0
    n = hsv.shape[0]
    hue = np.bincount(np.minimum((hsv[:, 0] * 12).astype(int), 11), weights=hsv[:, 1], minlength=12) / n
    sat = np.bincount(np.minimum((hsv[:, 1] * 4).astype(int), 3), minlength=4) / n
    val = np.bincount(np.minimum((hsv[:, 2] * 4).astype(int), 3), minlength=4) / n
    assert np.allclose(image_blocks(img)["colour"], np.concatenate([hue, sat, val]), rtol=0, atol=1e-12)


def test_load_frame_scale_and_a_frame_too_small(tmp_path: Path) -> None:
    yy, xx = np.mgrid[:240, :320]
    big = np.stack([xx % 256, yy % 256, (xx // 2) % 256], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, "JPEG", quality=90)
    frame = load_frame(io.BytesIO(buf.getvalue()))
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
    want = np.asarray(Image.fromarray(big).resize((64, 48), Image.Resampling.BILINEAR), dtype=float)
    assert np.abs(frame - want).mean() < 12                          # the picture, at analysis size
    tiny = tmp_path / "tiny.jpg"
    Image.fromarray(big[:3, :200]).save(tiny)
    with pytest.raises(ClipEmbedError, match=r"tiny\.jpg: ValueError") as info:
        clip_image_blocks(ClipMedia(audio=None, frames=(tiny,)))
    assert info.value.code == "no_frames"
