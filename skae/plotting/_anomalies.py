"""Figures of anomalies: samples next to their reconstructions and error maps.

Each function imports matplotlib when called (it is needed only for plotting) and returns
the :class:`matplotlib.figure.Figure` it drew on.
"""

import numpy as np


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a test dependency
        raise ImportError("skae.plotting needs matplotlib: pip install matplotlib") from exc
    return plt


def _as_images(array, name):
    """(n, H, W), (n, C, H, W) or (n, L) -> list of 2-D/3-D images or 1-D vectors."""
    array = np.asarray(array, dtype=np.float64)
    if array.ndim < 2:
        raise ValueError(f"{name} must have one sample per row: got shape {array.shape}.")
    out = []
    for sample in array:
        if sample.ndim == 3:  # (C, H, W) -> grey for C == 1, (H, W, C) colour otherwise
            sample = sample[0] if sample.shape[0] == 1 else np.moveaxis(sample, 0, -1)
        out.append(sample)
    return out


def plot_error_maps(
    X,
    reconstructions,
    error_maps,
    *,
    titles=None,
    feature_names=None,
    image_cmap="gray",
    error_cmap="inferno",
    fig=None,
):
    """Show samples, their reconstructions and error maps side by side, one row each.

    Images (2-D samples, or ``(C, H, W)``) are drawn as pictures with a colour bar on the
    error map; vectors (1-D samples, e.g. table rows or spectra) as lines (sample and
    reconstruction) and bars (error per feature).

    Parameters
    ----------
    X : array-like of shape (n_samples, H, W), (n_samples, C, H, W) or (n_samples, n_features)
        The samples.
    reconstructions : array-like of the same shape
        Their reconstructions, e.g. ``AEAnomalyDetector.reconstruct(X)``.
    error_maps : array-like of the same shape
        Per-value errors, e.g. ``AEAnomalyDetector.error_map(X)``.
    titles : list of str, default=None
        One title per sample (row), e.g. its score and label.
    feature_names : list of str, default=None
        Tick labels of the error bars for 1-D samples.
    image_cmap, error_cmap : str, default="gray", "inferno"
        Colour maps of the images and of the error maps.
    fig : matplotlib.figure.Figure, default=None
        Figure to draw on; a new one is made if None.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skae.plotting import plot_error_maps
    >>> X = np.random.RandomState(0).rand(2, 8, 8)
    >>> fig = plot_error_maps(X, X * 0.9, (X * 0.1) ** 2, titles=["a", "b"])
    >>> len(fig.axes)  # 2 rows of image, reconstruction, error map and its colour bar
    8
    """
    plt = _pyplot()
    samples = _as_images(X, "X")
    recons = _as_images(reconstructions, "reconstructions")
    errors = _as_images(error_maps, "error_maps")
    if not len(samples) == len(recons) == len(errors):
        raise ValueError(
            f"X, reconstructions and error_maps have {len(samples)}, {len(recons)} and "
            f"{len(errors)} samples; they must match."
        )
    if len(samples) == 0:
        raise ValueError("Nothing to plot: X has no samples.")
    if titles is not None and len(titles) != len(samples):
        raise ValueError(f"Got {len(titles)} titles for {len(samples)} samples.")
    n = len(samples)
    is_vector = samples[0].ndim == 1
    if fig is None:
        fig = plt.figure(figsize=(9 if is_vector else 6.5, (2.2 if is_vector else 2.0) * n))
    axes = fig.subplots(n, 2 if is_vector else 3, squeeze=False)
    for row, (x, r, e) in enumerate(zip(samples, recons, errors)):
        title = "" if titles is None else f"{titles[row]}\n"
        if is_vector:
            _plot_vector_row(axes[row], x, r, e, feature_names, title)
        else:
            _plot_image_row(fig, axes[row], x, r, e, image_cmap, error_cmap, title)
    fig.tight_layout()
    return fig


def _plot_image_row(fig, axes, x, r, e, image_cmap, error_cmap, title):
    colour = x.ndim == 3
    low, high = min(x.min(), r.min()), max(x.max(), r.max())
    for ax, image, label in ((axes[0], x, "sample"), (axes[1], r, "reconstruction")):
        if colour:  # imshow needs colour images in [0, 1]
            ax.imshow(np.clip((image - low) / max(high - low, 1e-12), 0, 1))
        else:
            ax.imshow(image, cmap=image_cmap, vmin=low, vmax=high)
        ax.set_title(f"{title}{label}" if ax is axes[0] else label, fontsize=8)
    error = e.sum(axis=-1) if colour else e
    im = axes[2].imshow(error, cmap=error_cmap)
    axes[2].set_title(f"squared error (sum {error.sum():.3g})", fontsize=8)
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.04)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])


def _plot_vector_row(axes, x, r, e, feature_names, title):
    positions = np.arange(len(x))
    axes[0].plot(positions, x, label="sample", lw=1.2)
    axes[0].plot(positions, r, label="reconstruction", lw=1.2, ls="--")
    axes[0].set_title(f"{title}sample and reconstruction", fontsize=8)
    axes[0].legend(fontsize=7)
    axes[1].bar(positions, e, color="tab:red")
    axes[1].set_title(f"squared error per feature (sum {e.sum():.3g})", fontsize=8)
    if feature_names is not None:
        if len(feature_names) != len(x):
            raise ValueError(
                f"Got {len(feature_names)} feature_names for samples of {len(x)} features."
            )
        for ax in axes:
            ax.set_xticks(positions)
            ax.set_xticklabels(feature_names, rotation=90, fontsize=6)


def plot_top_anomalies(detector, X, n_samples=5, *, y=None, **kwargs):
    """Rank ``X`` with a fitted anomaly detector and plot its most abnormal samples.

    Draws, for the ``n_samples`` lowest ``score_samples``, the sample, the detector's
    reconstruction and its error map (see :func:`plot_error_maps`).

    Parameters
    ----------
    detector : fitted AEAnomalyDetector
        Or any fitted estimator with ``score_samples``, ``reconstruct`` and
        ``error_map``.
    X : array-like
        Samples to rank, in the shape the detector was fitted on.
    n_samples : int, default=5
        Number of samples to show, most abnormal first.
    y : array-like of shape (n_samples,), default=None
        Labels to print in the titles.
    **kwargs
        Passed to :func:`plot_error_maps` (e.g. ``fig``, ``error_cmap``).

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure. Its rows are ``X[np.argsort(detector.score_samples(X))[:n_samples]]``.
    """
    X = np.asarray(X)
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}.")
    scores = detector.score_samples(X)
    order = np.argsort(scores, kind="stable")[:n_samples]
    titles = [
        f"#{i}  score {scores[i]:.2f}" + ("" if y is None else f"  label {np.asarray(y)[i]}")
        for i in order
    ]
    return plot_error_maps(
        X[order],
        detector.reconstruct(X[order]),
        detector.error_map(X[order]),
        titles=titles,
        **kwargs,
    )
