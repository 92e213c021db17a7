"""Other content: dense images that are not cosmology fields.

Photographs bundled with scikit-image (no download), cropped, rescaled, rotated or flipped;
log-normal "nebulae" (random fields with a power-law spectrum); and plain noise fields. Every
image is then bent by a gamma so that its median grey level sits at a target the similarity
score depends on (see `scores.other_score`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

# scikit-image's bundled images (in the wheel, never fetched), all dense photographs.
PHOTO_NAMES = (
    "astronaut", "brick", "camera", "cat", "cell", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket", "text",
    "microaneurysms",
)  # fmt: skip
KINDS = {"photo": 0.6, "nebula": 0.25, "noise": 0.15}


@lru_cache(maxsize=len(PHOTO_NAMES))
def load_photo(name: str) -> np.ndarray:
    """One bundled image as a [H, W] uint8 grey array (cached per process)."""
    import skimage.data
    from skimage.color import rgb2gray

    img = getattr(skimage.data, name)()
    if img.ndim == 3:
        img = rgb2gray(img[..., :3])
    img = np.asarray(img, dtype=np.float64)
    if img.max() > 1.0:
        img = img / 255.0 if img.max() <= 255 else img / img.max()
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def photo(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random crop of a bundled photograph, resized to [size, size], rotated, maybe
    flipped or inverted; float32 in [0, 1].
    """
    src = load_photo(PHOTO_NAMES[int(rng.integers(len(PHOTO_NAMES)))])
    h, w = src.shape
    side = int(min(h, w) * rng.uniform(0.35, 1.0))
    r0, c0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = Image.fromarray(src[r0 : r0 + side, c0 : c0 + side])
    out = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
    out = np.rot90(out, int(rng.integers(4)))
    if rng.random() < 0.5:
        out = out[:, ::-1]
    if rng.random() < 0.2:
        out = 255.0 - out
    return np.ascontiguousarray(out) / 255.0


def nebula(rng: np.random.Generator, size: int) -> np.ndarray:
    """exp of a Gaussian random field with power spectrum ∝ k^-γ: smooth, cloudy, dense."""
    gamma = rng.uniform(2.0, 3.5)
    ky = np.fft.fftfreq(size)[:, None]
    kx = np.fft.rfftfreq(size)[None, :]
    k = np.sqrt(kx**2 + ky**2)  # [size, size//2+1]
    k[0, 0] = 1.0
    amp = (k ** (-gamma / 2)).astype(np.float32)
    amp[0, 0] = 0.0
    spec = amp * (
        rng.standard_normal(k.shape, dtype=np.float32)
        + 1j * rng.standard_normal(k.shape, dtype=np.float32)
    )
    field = np.fft.irfft2(spec, s=(size, size)).astype(np.float32)
    field /= field.std() + 1e-12
    out = np.exp(rng.uniform(0.5, 1.5) * field)
    return out / out.max()


def noise_field(rng: np.random.Generator, size: int) -> np.ndarray:
    """Uniform or half-normal white noise, [size, size], scaled so its maximum is 1."""
    if rng.random() < 0.5:
        out = rng.random((size, size), dtype=np.float32)
    else:
        out = np.abs(rng.standard_normal((size, size), dtype=np.float32))
    return out / out.max()


def apply_median_target(img: np.ndarray, target: float) -> np.ndarray:
    """Gamma-correct an image in [0, 1] so its median moves to `target` in (0, 1)."""
    sample = img.ravel()[:: max(1, img.size // 20000)]
    med = float(np.median(sample))
    med = min(max(med, 1e-3), 0.999)
    g = float(np.clip(np.log(target) / np.log(med), 0.1, 10.0))
    return np.power(np.maximum(img, 1e-6), np.float32(g), dtype=np.float32)


def other_content(rng: np.random.Generator, size: int, q: float) -> tuple[np.ndarray, str]:
    """A dense image in [0, 1] whose median grey level is about 0.05 + 0.8·q; and its kind."""
    names = list(KINDS)
    probs = np.array(list(KINDS.values()))
    kind = names[int(rng.choice(len(names), p=probs / probs.sum()))]
    img = {"photo": photo, "nebula": nebula, "noise": noise_field}[kind](rng, size)
    return apply_median_target(img, 0.05 + 0.8 * float(q)), kind
