"""Restoration with a trained autoencoder: paired training and inpainting.

The estimator methods :meth:`BaseAutoEncoder.fit_pairs` and
:meth:`BaseAutoEncoder.inpaint` delegate here.
"""

import warnings
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from ._compat import check_feature_names

_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


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
    pool = _AVG_POOL[n_spatial]
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


def inpaint(estimator, X, mask=None, *, n_iter=3, init="mean"):
    """See :meth:`BaseAutoEncoder.inpaint`."""
    check_is_fitted(estimator, "net_")
    if isinstance(n_iter, bool) or not isinstance(n_iter, Integral) or n_iter < 1:
        raise ValueError(f"n_iter must be a positive int, got {n_iter!r}.")
    if not (init == "mean" or (isinstance(init, (int, float)) and np.isfinite(init))):
        raise ValueError(f"init must be 'mean' or a finite number, got {init!r}.")
    X_arr, mask_arr = check_inpaint_input(estimator, X, mask)
    X_zero = np.where(mask_arr, 0, X_arr).astype(X_arr.dtype, copy=False)
    with warnings.catch_warnings():
        # Feature names were checked above on the caller's X.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        X_net = estimator._validate_input(X_zero, reset=False)
    mask_net = mask_arr.reshape(X_net.shape)

    scale = estimator.input_scale_  # the network works in units of X / scale

    def fill(module, x, m):
        m = m > 0.5
        x = local_mean_fill(x, m) if init == "mean" else torch.where(
            m, torch.tensor(float(init) / scale, dtype=x.dtype, device=x.device), x
        )
        for _ in range(n_iter):
            x = torch.where(m, module(x), x)
        return x * scale

    restored = estimator._map_batches(
        fill, X_net, mask_net, dtype=X_arr.dtype, scale_input=True
    )
    out = X_arr  # already a private copy
    out[mask_arr] = restored.reshape(X_arr.shape)[mask_arr]
    return out


def fit_pairs(estimator, X, X_target):
    """See :meth:`BaseAutoEncoder.fit_pairs`."""
    X_net = estimator._validate_input(X, reset=True)
    target = estimator._validate_input(X_target, reset=False)
    if target.shape != X_net.shape:
        raise ValueError(
            f"X and X_target must have the same shape: X has {np.shape(X)} and X_target "
            f"has {np.shape(X_target)}."
        )
    estimator._fit_network(X_net, target)
    return estimator
