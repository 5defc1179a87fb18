"""Random label-preserving transformations of training batches (data augmentation).

An augmentation is a callable ``(X, generator) -> X`` on a float32 batch tensor already on
the training device, like the corruptions of :mod:`skae.corruption`; ``generator`` is a
seeded ``torch.Generator`` on that device. Estimators take one or a list (applied in
order) in two places:

- ``contrastive`` of the autoencoders: two augmented views of every training sample
  should get similar codes (see :class:`~skae.ConvAutoEncoder`), which makes the codes
  invariant to the transformations and groups similar images better;
- ``augmentation`` of :class:`~skae.EncoderClassifier`: the labelled images are
  transformed at every step.

Use only transformations that keep what an image *is*: mirror clothes, cells or
particles, not digits or text.

Batches are in the network's layout: ``(n, C, H, W)`` for images, ``(n, C, L)`` for
signals. :class:`RandomShift`, :class:`RandomFlip` and :class:`RandomIntensity` take both;
:class:`RandomAffine` takes images only.

Examples
--------
>>> import torch
>>> from skae.augmentation import RandomAffine, RandomIntensity
>>> X = torch.rand(4, 1, 28, 28)
>>> g = torch.Generator().manual_seed(0)
>>> views = RandomIntensity((0.7, 1.3))(RandomAffine(scale=(0.85, 1.0))(X, g), g)
>>> views.shape
torch.Size([4, 1, 28, 28])
"""

import math
from numbers import Integral, Real

import torch
from torch import nn

from .corruption import check_range, check_real

__all__ = ["RandomAffine", "RandomFlip", "RandomIntensity", "RandomShift"]


def _uniform(low, high, n, generator, device):
    """``n`` values uniform in ``[low, high]``, drawn on the generator's device."""
    u = torch.rand(n, generator=generator, device=generator.device).to(device)
    return low + (high - low) * u


class RandomShift:
    """Shift each sample by a random number of pixels, filling the border with zeros.

    Parameters
    ----------
    max_shift : int, default=2
        Largest shift along each spatial axis, in pixels.

    Examples
    --------
    >>> import torch
    >>> X = torch.ones(3, 1, 5, 5)
    >>> shifted = RandomShift(1)(X, torch.Generator().manual_seed(0))
    >>> shifted.shape, bool(shifted.sum() <= X.sum())
    (torch.Size([3, 1, 5, 5]), True)
    """

    def __init__(self, max_shift=2):
        if not isinstance(max_shift, Integral) or isinstance(max_shift, bool) or max_shift < 0:
            raise ValueError(f"max_shift must be a non-negative int, got {max_shift!r}.")
        self.max_shift = max_shift

    def __call__(self, X, generator):
        m = self.max_shift
        if X.ndim < 3:
            raise ValueError(
                "RandomShift shifts signals (n, C, L) or images (n, C, H, W); got a batch of "
                f"shape {tuple(X.shape)}, rows of a table have no neighbouring pixels."
            )
        if m == 0:
            return X
        spatial = X.shape[2:]
        padded = nn.functional.pad(X, [m] * (2 * len(spatial)))
        offsets = torch.randint(0, 2 * m + 1, (X.shape[0], len(spatial)), generator=generator,
                                device=generator.device).to(X.device)
        # Gather a window per sample: index grids shifted by each sample's offset.
        out = padded
        for axis, size in enumerate(spatial):
            index = offsets[:, axis].view(-1, *([1] * (X.ndim - 1))) + torch.arange(
                size, device=X.device
            ).view(*([1] * (axis + 2)), size, *([1] * (len(spatial) - axis - 1)))
            shape = list(out.shape)
            shape[axis + 2] = size
            out = torch.gather(out, axis + 2, index.expand(shape))
        return out

    def __repr__(self):
        return f"RandomShift(max_shift={self.max_shift})"


class RandomFlip:
    """Mirror each sample along its last axis (left-right) with probability ``p``.

    Use it only where a mirrored sample keeps its class (clothes, cells, particles; not
    digits or text).

    Parameters
    ----------
    p : float in [0, 1], default=0.5

    Examples
    --------
    >>> import torch
    >>> X = torch.arange(3.0).view(1, 1, 1, 3)
    >>> RandomFlip(1.0)(X, torch.Generator()).flatten().tolist()
    [2.0, 1.0, 0.0]
    """

    def __init__(self, p=0.5):
        if isinstance(p, bool) or not isinstance(p, Real) or not 0 <= p <= 1:
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}.")
        self.p = p

    def __call__(self, X, generator):
        flip = torch.rand(X.shape[0], generator=generator, device=generator.device) < self.p
        flip = flip.to(X.device).view(-1, *([1] * (X.ndim - 1)))
        return torch.where(flip, X.flip(-1), X)

    def __repr__(self):
        return f"RandomFlip(p={self.p})"


class RandomAffine:
    """Zoom, rotate, shift and mirror each image at random, in one resampling.

    Each image of a ``(n, C, H, W)`` batch is resampled bilinearly on a randomly scaled,
    rotated, translated and (optionally) mirrored grid; the area outside the image reads
    as zero. The default is mild, suited to centred objects such as Fashion-MNIST's
    clothes or microscope particles: a zoom showing 85-100 % of the side, up to 10 degrees
    of rotation and 5 % of shift, a mirror half of the time.

    Parameters
    ----------
    scale : float or (min, max), default=(0.85, 1.0)
        Side of the visible window, as a fraction of the image's side: below 1 zooms in
        (crops), above 1 zooms out.
    rotation : float, default=10.0
        Largest rotation, in degrees, either way.
    translate : float in [0, 1], default=0.05
        Largest shift, as a fraction of the image's side, added to the shift a crop
        (``scale < 1``) allows anyway.
    flip : bool, default=True
        Mirror left-right with probability 0.5.

    Examples
    --------
    >>> import torch
    >>> X = torch.rand(2, 1, 8, 8)
    >>> same = RandomAffine(scale=1.0, rotation=0.0, translate=0.0, flip=False)
    >>> bool(torch.allclose(same(X, torch.Generator()), X, atol=1e-5))
    True
    """

    def __init__(self, scale=(0.85, 1.0), rotation=10.0, translate=0.05, flip=True):
        self.scale = scale
        self.rotation = rotation
        self.translate = translate
        self.flip = flip
        self._check()

    def _check(self):
        low, high = check_range("scale", self.scale)
        if low <= 0:
            raise ValueError(f"scale must be positive, got {self.scale!r}.")
        check_real("rotation", self.rotation, 0.0, 180.0)
        check_real("translate", self.translate, 0.0, 1.0)
        if not isinstance(self.flip, bool):
            raise TypeError(f"flip must be a bool, got {self.flip!r}.")
        return low, high

    def __call__(self, X, generator):
        if X.ndim != 4:
            raise ValueError(
                "RandomAffine transforms images in the layout (n, C, H, W); got a batch "
                f"of shape {tuple(X.shape)}. Use RandomShift or RandomFlip for signals."
            )
        low, high = self._check()
        n, device = X.shape[0], X.device

        def draw(a, b):
            return _uniform(a, b, n, generator, device)

        s = draw(low, high)
        room = (1 - s).clamp(min=0)  # how far a crop can move without leaving the image
        tx = draw(-1, 1) * room + draw(-1, 1) * 2 * self.translate
        ty = draw(-1, 1) * room + draw(-1, 1) * 2 * self.translate
        angle = draw(-1, 1) * math.radians(self.rotation)
        mirror = torch.ones(n, device=device)
        if self.flip:
            mirror = torch.where(draw(0, 1) < 0.5, -1.0, 1.0)
        cos, sin = torch.cos(angle) * s, torch.sin(angle) * s
        # affine_grid's coordinates run over [-1, 1] on both axes: a rotation in pixels
        # needs the aspect ratio on its off-diagonal terms, or wide images get sheared.
        aspect = X.shape[2] / X.shape[3]  # H / W
        theta = torch.stack(
            [
                torch.stack([cos * mirror, -sin * aspect, tx], 1),
                torch.stack([sin * mirror / aspect, cos, ty], 1),
            ],
            1,
        )
        grid = nn.functional.affine_grid(theta.to(X.dtype), list(X.shape), align_corners=False)
        return nn.functional.grid_sample(X, grid, align_corners=False, padding_mode="zeros")

    def __repr__(self):
        return (f"RandomAffine(scale={self.scale!r}, rotation={self.rotation!r}, "
                f"translate={self.translate!r}, flip={self.flip!r})")


class RandomIntensity:
    """Multiply each sample by a random factor (contrast of images with a zero background).

    Parameters
    ----------
    factor : float or (min, max), default=(0.7, 1.3)
        Range of the factor; values stay unclipped.

    Examples
    --------
    >>> import torch
    >>> X = torch.ones(3, 1, 2, 2)
    >>> out = RandomIntensity((0.5, 0.5))(X, torch.Generator())
    >>> out.unique().tolist()
    [0.5]
    """

    def __init__(self, factor=(0.7, 1.3)):
        self.factor = factor
        check_range("factor", factor)

    def __call__(self, X, generator):
        low, high = check_range("factor", self.factor)
        factor = _uniform(low, high, X.shape[0], generator, X.device)
        return X * factor.to(X.dtype).view(-1, *([1] * (X.ndim - 1)))

    def __repr__(self):
        return f"RandomIntensity(factor={self.factor!r})"
