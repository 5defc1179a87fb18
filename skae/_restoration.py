"""Restoration with an autoencoder: paired training (``fit_pairs``) and inpainting.

:class:`RestorationMixin` gives every :class:`~skae.BaseAutoEncoder` its ``fit_pairs``
and ``inpaint`` methods; :func:`local_mean_fill` is the holes' first guess.
"""

import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from ._compat import check_feature_names, fit_context
from .nn._filters import AVG_POOL
from ._runtime import keeps_state_on_failure



def local_mean_fill(X, mask):
    """Fill the entries of ``X`` where ``mask`` is True from the known ones.

    Images ``(n, C, H, W)`` and signals ``(n, C, L)``: every hole pixel first takes the
    mean of its already known 3x3 (3) neighbours, growing inwards from the hole's border
    one ring at a time, then a few Jacobi sweeps of the Laplace equation smooth the fill
    (harmonic interpolation, the "local mean"). Tables ``(n, n_features)``: the column
    mean over the rows of the batch where the value is known (0 where a column is unknown
    in every row, the mean of standardised data). Known entries are returned unchanged.

    Parameters
    ----------
    X : torch.Tensor of shape (n, ...)
        May hold NaN where ``mask`` is True.
    mask : torch.Tensor of bool, same shape
        True marks an entry to fill.

    Returns
    -------
    filled : torch.Tensor, same shape and dtype as X
    """
    known = ~mask
    X0 = torch.where(known, X, torch.zeros((), dtype=X.dtype, device=X.device))
    if X.ndim == 2:
        counts = known.sum(0, keepdim=True)
        means = X0.sum(0, keepdim=True) / counts.clamp_min(1)
        return torch.where(known, X0, means.expand_as(X0))
    n_spatial = X.ndim - 2
    pool = AVG_POOL[n_spatial]
    shape = X.shape
    val = X0.reshape(-1, 1, *shape[2:])
    filled = known.reshape(-1, 1, *shape[2:]).to(X.dtype)
    hole = mask.reshape(-1, 1, *shape[2:])
    n_grow = 0
    for _ in range(max(shape[2:])):
        if bool(filled.min() > 0):
            break
        num = pool(val * filled, 3, stride=1, padding=1)
        den = pool(filled, 3, stride=1, padding=1)
        grow = (filled == 0) & (den > 0)
        val = torch.where(grow, num / den.clamp_min(1e-12), val)
        filled = torch.where(grow, torch.ones_like(filled), filled)
        n_grow += 1
    # Channels or samples with nothing known stay at 0 (callers reject all-masked samples).
    for _ in range(2 * n_grow):
        smooth = pool(val, 3, stride=1, padding=1, count_include_pad=False)
        val = torch.where(hole, smooth, val)
    return val.reshape(shape)


def check_inpaint_input(estimator, X, mask):
    """Validate ``X`` (NaN allowed where masked) and ``mask``; return arrays.

    Returns ``(X_array, mask_array)``: ``X_array`` a float copy of X in the caller's
    shape, ``mask_array`` a bool array of the same shape.
    """
    check_feature_names(estimator, X, reset=False)
    X_arr = check_array(
        X, dtype=(np.float32, np.float64), ensure_all_finite="allow-nan", allow_nd=True,
        copy=True, input_name="X",
    )
    if mask is None:
        mask_arr = np.isnan(X_arr)
    else:
        if hasattr(mask, "to_numpy"):
            mask = mask.to_numpy()
        mask_arr = np.asarray(mask)
        if mask_arr.dtype != np.bool_:
            raise TypeError(
                f"mask must be a boolean array (True = missing), got dtype {mask_arr.dtype}. "
                "Convert it with mask.astype(bool) if it holds 0/1 values."
            )
        try:
            mask_arr = np.broadcast_to(mask_arr, X_arr.shape)
        except ValueError:
            raise ValueError(
                f"mask of shape {mask_arr.shape} does not match X of shape {X_arr.shape}; "
                "give a mask of X's shape, or one that broadcasts to it (e.g. one mask "
                "of shape X.shape[1:] for all samples)."
            ) from None
    bad = ~np.isfinite(X_arr) & ~mask_arr
    if bad.any():
        raise ValueError(
            f"X holds {int(bad.sum())} NaN or infinite value(s) outside the mask; missing "
            "values must be marked True in mask (or pass mask=None to mask every NaN)."
        )
    all_masked = mask_arr.reshape(len(X_arr), -1).all(axis=1)
    if all_masked.any():
        rows = np.flatnonzero(all_masked)
        raise ValueError(
            f"{len(rows)} sample(s) are entirely masked (first indices: "
            f"{rows[:10].tolist()}); nothing is known to inpaint them from."
        )
    if not mask_arr.any():
        warnings.warn("mask selects no entry; X is returned unchanged.", UserWarning,
                      stacklevel=3)
    return X_arr, np.ascontiguousarray(mask_arr)


class RestorationMixin:
    """``fit_pairs`` and ``inpaint`` for an autoencoder estimator.

    Uses the estimator's own ``_validate_input``, ``_fit_network`` and ``_map_batches``.
    """

    @keeps_state_on_failure
    @fit_context(prefer_skip_nested_validation=True)
    def fit_pairs(self, X, X_target):
        """Train on pairs: map each sample of ``X`` (e.g. noisy) to its ``X_target`` (clean).

        For users with real corrupted/clean pairs (two exposures, a low- and a high-dose
        scan). A separate method keeps the transformer contract intact: ``fit(X, y=None)``
        ignores ``y`` as every sklearn transformer must, so a ``Pipeline`` passing labels
        as ``y`` can never train on them by mistake, and ``fit_transform`` stays
        ``fit(X).transform(X)``. After ``fit_pairs``, ``reconstruct(X_new)`` returns the
        restored data and ``transform`` the codes, as after ``fit``. ``corruption``, if
        set, is still applied to the training inputs (augmentation), never to the
        targets; ``output_activation="auto"`` looks at the targets. To train inside a
        ``Pipeline``, fit the preceding steps first and call ``fit_pairs`` on the last.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training inputs (e.g. noisy images), any shape that ``fit`` accepts.
        X_target : array-like of the same shape as X
            The outputs to learn (e.g. the clean images), sample for sample.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X_net = self._validate_input(X, reset=True)
        target = self._validate_input(X_target, reset=False)
        if target.shape != X_net.shape:
            raise ValueError(
                f"X and X_target must have the same shape: X has {np.shape(X)} and X_target "
                f"has {np.shape(X_target)}."
            )
        self._fit_network(X_net, target)
        return self

    def inpaint(self, X, mask=None, *, n_iter="auto", init="mean"):
        """Fill the masked entries of ``X``; the known entries are returned bit for bit.

        Works for images, signals and tables, with masks of any shape drawn per sample
        (holes, scratches, scattered pixels, missing table cells), not only the shapes
        seen in training. Holes start from ``init`` (by default the local mean of the
        known neighbours, see :func:`skae._restoration.local_mean_fill`), then ``n_iter``
        times the network reconstructs the sample and only the holes take its output.
        Train with a masking corruption (``BlockMask`` / ``PixelDropout`` from
        :mod:`skae.corruption`, ideally with the same ``fill`` as ``init``) so that the
        network learns to fill holes rather than copy them.

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``
            Data with missing entries; values under the mask are ignored and may be NaN.
        mask : array-like of bool, default=None
            True marks a missing entry. Same shape as X or broadcastable to it (one mask
            of shape ``X.shape[1:]`` for every sample). None masks the NaN entries of X.
        n_iter : int or "auto", default="auto"
            Reconstruct-and-replace rounds. ``"auto"``: 3, or 1 for a network told
            where the holes are (``ConvAutoEncoder(mask_channel=True)``), which was
            trained to fill holes from the first guess in one pass; further rounds show
            it its own output marked as missing, which it never saw in training (on the
            altitude-map example, 3 rounds raised its volume error from 10 % to 60 %).
        init : "mean" or float, default="mean"
            First guess in the holes: the local mean of known values (column means
            for tables), or a constant.

        Returns
        -------
        X_filled : ndarray of the shape of X
            float64 for float64 input, otherwise float32; equal to X outside the mask.

        Raises
        ------
        TypeError
            If mask is not boolean.
        ValueError
            If mask does not broadcast to X's shape, a sample is entirely masked, or X
            has non-finite values outside the mask.
        """
        check_is_fitted(self, "net_")
        # A mask-aware network (mask_channel) is told where the holes are.
        takes_mask = getattr(self.net_.module_, "takes_mask", False)
        if isinstance(n_iter, str) and n_iter == "auto":
            n_iter = 1 if takes_mask else 3
        elif isinstance(n_iter, bool) or not isinstance(n_iter, Integral) or n_iter < 1:
            raise ValueError(f"n_iter must be a positive int or 'auto', got {n_iter!r}.")
        if not (init == "mean" or (isinstance(init, (int, float)) and np.isfinite(init))):
            raise ValueError(f"init must be 'mean' or a finite number, got {init!r}.")
        X_arr, mask_arr = check_inpaint_input(self, X, mask)
        X_zero = np.where(mask_arr, 0, X_arr).astype(X_arr.dtype, copy=False)
        with warnings.catch_warnings():
            # Feature names were checked above on the caller's X.
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            X_net = self._validate_input(X_zero, reset=False)
        mask_net = mask_arr.reshape(X_net.shape)

        scale = self.input_scale_  # the network works in units of X / scale

        def fill(module, x, m):
            m = m > 0.5
            x = local_mean_fill(x, m) if init == "mean" else torch.where(
                m, torch.tensor(float(init) / scale, dtype=x.dtype, device=x.device), x
            )
            extra = {"mask": m} if takes_mask else {}
            for _ in range(n_iter):
                x = torch.where(m, module(x, **extra), x)
            return x * scale

        restored = self._map_batches(
            fill, X_net, mask_net, dtype=X_arr.dtype, scale_input=True
        )
        out = X_arr  # already a private copy
        out[mask_arr] = restored.reshape(X_arr.shape)[mask_arr]
        return out
