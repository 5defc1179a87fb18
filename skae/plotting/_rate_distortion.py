"""The rate-distortion figure: image quality against bits per value, per codec."""


def plot_rate_distortion(curve, *, metric="psnr", pareto_only=True, ax=None):
    """Plot a :func:`rate_distortion_curve` result: ``metric`` against bits per value.

    Parameters
    ----------
    curve : pandas.DataFrame
        Output of :func:`~skae.compression.rate_distortion_curve`.
    metric : {"psnr", "ssim"}, default="psnr"
    pareto_only : bool, default=True
        Draw only the best points of each family and mode (the PCA grid has many).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if metric not in ("psnr", "ssim"):
        raise ValueError(f"metric must be 'psnr' or 'ssim', got {metric!r}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for (family, mode), group in curve.groupby(["family", "mode"], sort=False):
        if pareto_only:
            group = group[group["pareto"]]
        group = group.sort_values("bpp")
        label = family if mode == "set" else f"{family} ({mode})"
        ax.plot(group["bpp"], group[metric], marker="o", markersize=3, label=label)
    ax.set_xlabel("bits per value (pixel)")
    ax.set_ylabel("PSNR (dB)" if metric == "psnr" else "SSIM")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax
