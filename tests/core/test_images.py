"""Decoding image files: every format a folder may hold, alpha, 16-bit and palettes, unreadable
files, and the process pool (the same pixels as decoding here)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core import images
from core.images import decode, decode_all, describe_bad

COLOUR = (200, 100, 50)
GREY_OF_COLOUR = 124  # PIL's L = R·299/1000 + G·587/1000 + B·114/1000 = 124.2


def solid(mode: str, size: tuple[int, int], value) -> Image.Image:
    return Image.new(mode, size, value)


def pixels(path, size: int = 4, channels: int = 3) -> np.ndarray:
    out = decode(path, size, channels)
    assert out.shape == (channels, size, size) and out.dtype == np.uint8
    return out


@pytest.mark.parametrize(
    ("name", "save"),
    [
        ("a.png", {}),
        ("a.bmp", {}),
        ("a.tif", {}),
        ("a.tiff", {"compression": "tiff_lzw"}),
        ("a.webp", {"lossless": True}),
    ],
)
def test_lossless_formats_give_the_exact_colour(tmp_path, name, save):
    path = tmp_path / name
    solid("RGB", (12, 8), COLOUR).save(path, **save)
    assert (pixels(path).reshape(3, -1).T == COLOUR).all()
    assert (pixels(path, channels=1) == GREY_OF_COLOUR).all()


def test_jpeg_is_close_to_its_colour_and_big_photos_decode_small(tmp_path):
    path = tmp_path / "photo.jpg"
    solid("RGB", (1600, 1200), COLOUR).save(path, quality=95)
    out = pixels(path, size=8).astype(int)
    assert np.abs(out.reshape(3, -1).T - COLOUR).max() <= 3


def test_centre_square_crop_keeps_the_middle(tmp_path):
    img = solid("RGB", (30, 10), (255, 0, 0))
    img.paste((0, 255, 0), (10, 0, 20, 10))  # the centre square is green, the sides red
    img.save(tmp_path / "wide.png")
    out = pixels(tmp_path / "wide.png", size=5)
    assert (out[1] == 255).all() and (out[0] == 0).all() and (out[2] == 0).all()


def test_alpha_is_composited_on_black(tmp_path):
    solid("RGBA", (8, 8), (*COLOUR, 128)).save(tmp_path / "half.png")
    out = pixels(tmp_path / "half.png").astype(int)
    expected = np.array([round(v * 128 / 255) for v in COLOUR])
    assert np.abs(out.reshape(3, -1).T - expected).max() <= 1
    solid("RGBA", (8, 8), (255, 255, 255, 0)).save(tmp_path / "clear.png")
    assert (pixels(tmp_path / "clear.png") == 0).all()  # white but fully transparent: black
    solid("LA", (8, 8), (200, 64)).save(tmp_path / "grey-alpha.png")
    assert np.abs(pixels(tmp_path / "grey-alpha.png", channels=1).astype(int) - 50).max() <= 1
    solid("RGBA", (8, 8), (*COLOUR, 255)).save(tmp_path / "opaque.webp", lossless=True)
    assert (pixels(tmp_path / "opaque.webp").reshape(3, -1).T == COLOUR).all()


def test_palette_images_with_and_without_transparency(tmp_path):
    arr = np.zeros((8, 8), np.uint8)
    arr[:, 4:] = 1
    img = Image.fromarray(arr, "P")
    img.putpalette([*COLOUR, 10, 20, 30] + [0] * 762)
    img.save(tmp_path / "pal.png")
    out = pixels(tmp_path / "pal.png", size=8)
    assert (out[:, :, :3].reshape(3, -1).T == COLOUR).all()
    assert (out[:, :, 5:].reshape(3, -1).T == (10, 20, 30)).all()
    img.save(tmp_path / "pal-clear.png", transparency=1)  # index 1 is see-through
    out = pixels(tmp_path / "pal-clear.png", size=8)
    assert (out[:, :, :3].reshape(3, -1).T == COLOUR).all() and (out[:, :, 5:] == 0).all()


def test_gif_gives_its_first_frame(tmp_path):
    frames = [solid("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    with Image.open(tmp_path / "anim.gif") as check:
        assert check.n_frames == 3
    out = pixels(tmp_path / "anim.gif")
    assert (out[0] == 255).all() and (out[1:] == 0).all()


@pytest.mark.parametrize("name", ["deep.png", "deep.tif"])
def test_16_bit_grey_is_scaled_not_clipped(tmp_path, name):
    arr = np.full((8, 8), 65535, np.uint16)
    arr[:, 4:] = 25700  # 100 · 257
    Image.fromarray(arr).save(tmp_path / name)
    with Image.open(tmp_path / name) as check:
        assert check.mode.startswith("I")  # really 16-bit on disk
    out = pixels(tmp_path / name, size=8, channels=1)
    assert (out[0, :, :4] == 255).all() and (out[0, :, 4:] == 100).all()
    assert (pixels(tmp_path / name, size=8)[:, :, 4:] == 100).all()  # and as colour


def test_bilevel_and_grey_to_colour(tmp_path):
    solid("1", (8, 8), 1).save(tmp_path / "bw.png")
    assert (pixels(tmp_path / "bw.png") == 255).all()
    solid("L", (8, 8), 77).save(tmp_path / "grey.png")
    assert (pixels(tmp_path / "grey.png") == 77).all()


def write_unreadable(folder) -> list:
    """Three broken files: not an image, an empty one, a PNG cut short."""
    (folder / "text.png").write_text("not an image")
    (folder / "empty.jpg").write_bytes(b"")
    solid("RGB", (64, 64), COLOUR).save(folder / "whole.png")
    data = (folder / "whole.png").read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])
    (folder / "whole.png").unlink()
    return [folder / "text.png", folder / "empty.jpg", folder / "cut.png"]


def test_unreadable_files_are_listed_not_raised(tmp_path):
    broken = write_unreadable(tmp_path)
    good = []
    for i in range(3):
        good.append(tmp_path / f"ok{i}.png")
        solid("RGB", (8, 8), (i * 50, 0, 0)).save(good[-1])
    paths = [good[0], broken[0], good[1], broken[1], broken[2], good[2]]
    seen = []
    result = decode_all(paths, 4, 3, workers=1, progress=lambda d, t: seen.append((d, t)))
    assert [i for i, _ in result.bad] == [1, 3, 4]
    assert all(why for _, why in result.bad) and str(tmp_path) not in result.bad[0][1]
    assert result.images is not None and result.images.shape == (3, 3, 4, 4)
    assert [int(img[0, 0, 0]) for img in result.images] == [0, 50, 100]  # the good ones, in order
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)
    checked = decode_all(paths, 4, 3, workers=1, keep=False)
    assert checked.images is None and checked.bad == result.bad
    line = describe_bad([(p.name, "bad") for p in broken] * 2, 10)
    assert line.startswith("6 of 10 image files cannot be read") and "and 3 more" in line


@pytest.mark.slow
def test_the_pool_decodes_the_same_pixels_with_progress(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(300):
        paths.append(tmp_path / f"{i:03d}.{('png', 'jpg', 'webp')[i % 3]}")
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(paths[-1])
    (tmp_path / "000.png").write_bytes(b"broken")
    here = decode_all(paths, 8, 3, workers=1)
    monkeypatch.setattr(images, "POOL_WORTH_S", 0.0)  # a pool whatever the speed
    monkeypatch.setattr(images, "PROGRESS_INTERVAL_S", 0.0)
    seen = []
    pooled = decode_all(paths, 8, 3, workers=2, progress=lambda d, t: seen.append(d))
    assert here.images is not None and pooled.images is not None
    assert np.array_equal(here.images, pooled.images) and here.bad == pooled.bad
    assert [i for i, _ in pooled.bad] == [0]
    assert seen == sorted(seen) and seen[-1] == 300 and len(seen) > 3
