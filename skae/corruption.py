"""Corruptions applied to training inputs (de-noising and inpainting autoencoders).

A corruption is a callable ``(X, generator) -> corrupted X`` on a float32 batch tensor of
shape ``(n, ...)`` already on the training device; ``generator`` is a seeded
``torch.Generator`` on that device. Estimators take one or a list in ``corruption``; a
list is applied in order. Corruptions never modify their input tensor in place.

The network layout of a batch decides what a "pixel" is: ``(n, n_features)`` for tables,
``(n, C, L)`` for signals and ``(n, C, H, W)`` for images (what
:class:`~skae.ConvAutoEncoder` feeds its network). :class:`PixelDropout` and
:class:`BlockMask` drop all channels of a location together in the last two layouts.

Examples
--------
>>> import torch
>>> from skae.corruption import GaussianNoise, BlockMask
>>> X = torch.zeros(2, 1, 8, 8)
>>> g = torch.Generator().manual_seed(0)
>>> noisy = GaussianNoise(0.3)(X, g)
>>> masked = BlockMask(4, fill=1.0)(X, g)
>>> bool(0 < masked.sum() <= 2 * 16)  # a 4x4 block per image, maybe cut by the border
True
"""

from numbers import Integral, Real

import torch


def check_real(name, value, low=None, high=None, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high or value != value:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(
            f"{name} must lie in {left}{low if low is not None else '-inf'}, "
            f"{high if high is not None else 'inf'}{right}, got {value!r}."
        )
    return value


def check_range(name, value, low=0.0, high=None):
    """A number or a ``(min, max)`` pair; returns ``(min, max)`` floats."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be a number or a (min, max) pair, got {value!r}.")
        lo = check_real(name, value[0], low, high)
        hi = check_real(name, value[1], low, high)
        if lo > hi:
            raise ValueError(f"{name}=({lo}, {hi}) needs min <= max.")
        return lo, hi
    value = check_real(name, value, low, high)
    return value, value


def _per_sample(low, high, n, like, generator):
    """``n`` values drawn uniformly in ``[low, high]``, shaped to broadcast over ``like``."""
    if low == high:
        values = torch.full((n,), low, dtype=like.dtype, device=like.device)
    else:
        values = low + (high - low) * torch.rand(
            n, generator=generator, device=like.device, dtype=like.dtype
        )
    return values.reshape(n, *([1] * (like.ndim - 1)))


def _location_shape(X):
    """Shape of a per-location mask: channels share it for (n, C, L) / (n, C, H, W)."""
    if X.ndim >= 3:
        return (X.shape[0], 1, *X.shape[2:])
    return tuple(X.shape)


def _check_fill(fill):
    if fill == "mean":
        return fill
    if isinstance(fill, str):
        raise ValueError(f"fill must be a number or 'mean', got {fill!r}.")
    return check_real("fill", fill)


def _apply_mask(X, mask, fill):
    """Replace entries where ``mask`` (broadcastable bool) is True by ``fill``."""
    if fill == "mean":
        from ._restoration import local_mean_fill

        return local_mean_fill(X, mask.expand_as(X))
    return torch.where(mask, torch.as_tensor(fill, dtype=X.dtype, device=X.device), X)


class _MaskingStep:
    """A corruption that hides entries: ``__call__`` and ``masked`` from ``_draw_mask``."""

    def masked(self, X, generator):
        """The corrupted batch and the mask of the entries it hid.

        Parameters
        ----------
        X : torch.Tensor of shape (n, ...)
            A batch in the network's layout.
        generator : torch.Generator

        Returns
        -------
        X_corrupted : torch.Tensor of X's shape
        mask : torch.Tensor of bool
            True where the data were hidden; one entry per location (channels share it).
        """
        mask = self._draw_mask(X, generator)
        return _apply_mask(X, mask, self.fill), mask

    def __call__(self, X, generator):
        return self.masked(X, generator)[0]


class GaussianNoise:
    """Add Gaussian noise of standard deviation ``std`` to every value.

    Parameters
    ----------
    std : float or (float, float), default=0.1
        Standard deviation of the noise, in the units of the data (e.g. 0.3 for images in
        [0, 1]). A pair ``(min, max)`` draws one standard deviation per sample uniformly
        in that range, which trains a "blind" de-noiser for a range of noise levels.
    clip : (float, float) or None, default=None
        If given, clip the noisy values to ``[low, high]`` (e.g. ``(0, 1)`` for images
        whose sensor saturates). None keeps additive white Gaussian noise unclipped.

    Examples
    --------
    >>> import torch
    >>> from skae.corruption import GaussianNoise
    >>> noise = GaussianNoise(0.5, clip=(0, 1))
    >>> noise
    GaussianNoise(std=0.5, clip=(0.0, 1.0))
    >>> out = noise(torch.full((4, 10), 0.5), torch.Generator().manual_seed(0))
    >>> bool(out.min() >= 0 and out.max() <= 1)
    True
    """

    def __init__(self, std=0.1, *, clip=None):
        low, high = check_range("std", std, 0.0)
        self.std = (low, high) if isinstance(std, (tuple, list)) else low
        self._std_range = (low, high)
        if clip is not None:
            if not isinstance(clip, (tuple, list)) or len(clip) != 2:
                raise ValueError(f"clip must be None or a (low, high) pair, got {clip!r}.")
            clip = (check_real("clip[0]", clip[0]), check_real("clip[1]", clip[1]))
            if clip[0] >= clip[1]:
                raise ValueError(f"clip=({clip[0]}, {clip[1]}) needs low < high.")
        self.clip = clip

    def __call__(self, X, generator):
        std = _per_sample(*self._std_range, X.shape[0], X, generator)
        noise = torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)
        out = X + std * noise
        if self.clip is not None:
            out = out.clamp(*self.clip)
        return out

    def __repr__(self):
        clip = "" if self.clip is None else f", clip={self.clip}"
        return f"GaussianNoise(std={self.std}{clip})"


class SaltAndPepper:
    """Set a random fraction of values to ``low`` (pepper) or ``high`` (salt).

    Parameters
    ----------
    amount : float in [0, 1] or (float, float), default=0.05
        Fraction of values replaced; a pair ``(min, max)`` draws one fraction per sample.
    salt_vs_pepper : float in [0, 1], default=0.5
        Fraction of the replaced values set to ``high``; the others get ``low``.
    low, high : float, default=0.0, 1.0
        The pepper and salt values (the data's range, e.g. 0 and 1 for images).

    Examples
    --------
    >>> import torch
    >>> from skae.corruption import SaltAndPepper
    >>> out = SaltAndPepper(0.5)(torch.full((2, 1000), 0.5), torch.Generator().manual_seed(0))
    >>> round(float((out != 0.5).float().mean()), 1)
    0.5
    """

    def __init__(self, amount=0.05, *, salt_vs_pepper=0.5, low=0.0, high=1.0):
        lo, hi = check_range("amount", amount, 0.0, 1.0)
        self.amount = (lo, hi) if isinstance(amount, (tuple, list)) else lo
        self._amount_range = (lo, hi)
        self.salt_vs_pepper = check_real("salt_vs_pepper", salt_vs_pepper, 0.0, 1.0)
        self.low = check_real("low", low)
        self.high = check_real("high", high)
        if self.low >= self.high:
            raise ValueError(f"low={self.low} must be below high={self.high}.")

    def __call__(self, X, generator):
        amount = _per_sample(*self._amount_range, X.shape[0], X, generator)
        u = torch.rand(X.shape, generator=generator, device=X.device, dtype=X.dtype)
        salt = torch.rand(X.shape, generator=generator, device=X.device, dtype=X.dtype)
        hit = u < amount
        value = torch.where(salt < self.salt_vs_pepper, self.high, self.low).to(X.dtype)
        return torch.where(hit, value, X)

    def __repr__(self):
        return (
            f"SaltAndPepper(amount={self.amount}, salt_vs_pepper={self.salt_vs_pepper}, "
            f"low={self.low}, high={self.high})"
        )


class PixelDropout(_MaskingStep):
    """Drop a random fraction of pixels (or table entries), replacing them by ``fill``.

    For images ``(n, C, H, W)`` and signals ``(n, C, L)`` all channels of a dropped
    location go together; for tables ``(n, n_features)`` each entry is dropped on its own.
    Trains a network to fill scattered missing values (see
    :meth:`~skae.BaseAutoEncoder.inpaint`).

    Parameters
    ----------
    rate : float in [0, 1) or (float, float), default=0.2
        Fraction of locations dropped; a pair ``(min, max)`` draws one rate per sample.
    fill : float or "mean", default=0.0
        Value written into dropped locations. ``"mean"`` fills them with the local mean
        of the known neighbours (the column means of the batch for tables), which is the
        first guess :meth:`~skae.BaseAutoEncoder.inpaint` starts from.

    Examples
    --------
    >>> import torch
    >>> from skae.corruption import PixelDropout
    >>> out = PixelDropout(0.25)(torch.ones(8, 3, 16, 16), torch.Generator().manual_seed(0))
    >>> bool((out == 0).all(dim=1).eq((out == 0).any(dim=1)).all())  # channels together
    True
    """

    def __init__(self, rate=0.2, *, fill=0.0):
        lo, hi = check_range("rate", rate, 0.0, 1.0)
        if hi >= 1.0:
            raise ValueError(f"rate must be below 1 (some values must stay), got {rate!r}.")
        self.rate = (lo, hi) if isinstance(rate, (tuple, list)) else lo
        self._rate_range = (lo, hi)
        self.fill = _check_fill(fill)

    def _draw_mask(self, X, generator):
        rate = _per_sample(*self._rate_range, X.shape[0], X, generator)
        shape = _location_shape(X)
        return torch.rand(shape, generator=generator, device=X.device, dtype=X.dtype) < rate

    def __repr__(self):
        return f"PixelDropout(rate={self.rate}, fill={self.fill!r})"


class BlockMask(_MaskingStep):
    """Blank out random rectangular blocks (intervals for signals and tables).

    Each sample gets ``n_blocks`` blocks at uniformly random positions (they may overlap
    and may be cut by the border, so every block position is equally likely to hide any
    pixel). Trains a network to fill large holes (see :meth:`~skae.BaseAutoEncoder.inpaint`).

    Parameters
    ----------
    size : int or (int, int), default=8
        Block side (square) or ``(height, width)`` for images; the length for signals and
        tables (the first entry of a pair).
    n_blocks : int or (int, int), default=1
        Blocks per sample; a pair ``(min, max)`` draws a number per sample, inclusive.
    fill : float or "mean", default=0.0
        Value written into the blocks; ``"mean"`` fills them with the local mean of the
        surrounding known values, the first guess that
        :meth:`~skae.BaseAutoEncoder.inpaint` starts from.

    Examples
    --------
    >>> import torch
    >>> from skae.corruption import BlockMask
    >>> mask = BlockMask((3, 5), n_blocks=2)
    >>> mask
    BlockMask(size=(3, 5), n_blocks=2, fill=0.0)
    >>> out = mask(torch.ones(4, 1, 28, 28), torch.Generator().manual_seed(0))
    >>> bool(((out == 0).sum(dim=(1, 2, 3)) <= 30).all())
    True
    """

    def __init__(self, size=8, *, n_blocks=1, fill=0.0):
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        if len(sizes) != 2:
            raise ValueError(f"size must be an int or a (height, width) pair, got {size!r}.")
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, Integral) or s < 1:
                raise ValueError(f"size must hold positive ints, got {size!r}.")
        self.size = tuple(int(s) for s in sizes) if isinstance(size, (tuple, list)) else int(size)
        self._sizes = tuple(int(s) for s in sizes)
        counts = tuple(n_blocks) if isinstance(n_blocks, (tuple, list)) else (n_blocks, n_blocks)
        if len(counts) != 2 or any(
            isinstance(c, bool) or not isinstance(c, Integral) or c < 0 for c in counts
        ) or counts[0] > counts[1] or counts[1] < 1:
            raise ValueError(
                "n_blocks must be a positive int or a (min, max) pair of non-negative ints "
                f"with min <= max and max >= 1, got {n_blocks!r}."
            )
        self.n_blocks = (
            (int(counts[0]), int(counts[1])) if isinstance(n_blocks, (tuple, list))
            else int(n_blocks)
        )
        self._counts = (int(counts[0]), int(counts[1]))
        self.fill = _check_fill(fill)

    def _mask(self, shape, generator, device):
        """Boolean mask of ``shape = (n, 1, *spatial)`` or ``(n, L)``."""
        n, spatial = shape[0], shape[2:] if len(shape) >= 3 else shape[1:]
        if len(spatial) > 2:
            raise ValueError(f"BlockMask supports 1-D and 2-D samples, got shape {shape}.")
        sizes = self._sizes[: len(spatial)]
        lo, hi = self._counts
        counts = torch.randint(lo, hi + 1, (n,), generator=generator, device=device)
        n_max = hi
        mask = torch.zeros((n, *spatial), dtype=torch.bool, device=device)
        for k in range(n_max):
            active = (counts > k).reshape(n, *([1] * len(spatial)))
            block = torch.ones((n, *spatial), dtype=torch.bool, device=device)
            for axis, (length, side) in enumerate(zip(spatial, sizes)):
                # Start in [-(side - 1), length - 1]: every pixel is equally likely hidden.
                start = torch.randint(
                    -(side - 1), length, (n,), generator=generator, device=device
                )
                coords = torch.arange(length, device=device)
                inside = (coords >= start[:, None]) & (coords < start[:, None] + side)
                view = [n] + [1] * len(spatial)
                view[axis + 1] = length
                block &= inside.reshape(view)
            mask |= block & active
        return mask.reshape(shape)

    def _draw_mask(self, X, generator):
        return self._mask(_location_shape(X), generator, X.device)

    def __repr__(self):
        return f"BlockMask(size={self.size}, n_blocks={self.n_blocks}, fill={self.fill!r})"


class SeededCorruption:
    """Applies corruption steps in order with one generator seeded from ``random_state``.

    Picklable: the generator is rebuilt from the seed when loaded.

    Parameters
    ----------
    steps : list of callables
        Corruptions ``(X, generator) -> X``, applied in order.
    seed : int
        Seed of the ``torch.Generator``.
    device : str
        Device of the generator, the training device.
    """

    def __init__(self, steps, seed, device):
        self.steps = list(steps)
        self.seed = int(seed)
        self.device = str(device)
        self._generator = None

    @property
    def generator(self):
        if self._generator is None:
            self._generator = torch.Generator(device=self.device).manual_seed(self.seed)
        return self._generator

    def __call__(self, X):
        for step in self.steps:
            X = step(X, self.generator)
        return X

    def with_mask(self, X):
        """Apply the steps; also return where the masking steps hid the data.

        The masking steps are those with a ``masked(X, generator)`` method
        (:class:`BlockMask`, :class:`PixelDropout`). Draws exactly what ``__call__``
        draws, so the corrupted batch is the same.

        Parameters
        ----------
        X : torch.Tensor of shape (n, ...)
            A batch in the network's layout.

        Returns
        -------
        X_corrupted : torch.Tensor of X's shape
        mask : torch.Tensor of bool or None
            True where a masking step hid the data, one entry per location (shape
            ``(n, 1, ...)`` for images and signals); None when no step masks.
        """
        mask = None
        for step in self.steps:
            if hasattr(step, "masked"):
                X, hidden = step.masked(X, self.generator)
                mask = hidden if mask is None else mask | hidden
            else:
                X = step(X, self.generator)
        return X, mask

    def __getstate__(self):
        return {**self.__dict__, "_generator": None}

    def __repr__(self):
        return f"SeededCorruption({self.steps!r}, seed={self.seed})"


def make_corruption(corruption, seed, device, name="corruption"):
    """The net's ``corruption`` callable for an estimator's ``corruption`` parameter
    (or another parameter of the same form: ``contrastive``, ``augmentation``).

    Parameters
    ----------
    corruption : callable, list of callables or None
        The estimator's ``corruption`` parameter.
    seed : int
        The estimator's training seed (drawn from ``random_state``).
    device : str
        The training device.
    name : str, default="corruption"
        The parameter's name, for error messages.

    Returns
    -------
    corruption : SeededCorruption or None
        None when there is nothing to apply.
    """
    if corruption is None:
        return None
    steps = corruption if isinstance(corruption, (list, tuple)) else [corruption]
    if not steps:
        return None
    for step in steps:
        if not callable(step):
            raise TypeError(f"Each step of {name} must be callable (X, generator) -> X: {step!r}.")
    return SeededCorruption(steps, seed + 1, device)


__all__ = [
    "BlockMask",
    "GaussianNoise",
    "PixelDropout",
    "SaltAndPepper",
    "SeededCorruption",
    "make_corruption",
]
