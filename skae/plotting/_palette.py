"""The cluster palette of skae's figures: one colour per cluster, grey for noise."""

import numpy as np

NOISE = -1  # the label of an item in no cluster (HDBSCAN's, and skae.discovery's)
NOISE_COLOUR = "#bdbdbd"
# matplotlib's tab10 and tab20 without their greys, which would read as noise.
TAB10_WITHOUT_GREY = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#bcbd22", "#17becf",
)
TAB20_WITHOUT_GREY = (
    "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728",
    "#ff9896", "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2",
    "#bcbd22", "#dbdb8d", "#17becf", "#9edae5",
)


def cluster_colours(labels):
    """One colour per cluster label, and :data:`NOISE_COLOUR` for noise (``-1``).

    Clusters are coloured in the order of their sorted labels: from nine distinct
    colours, or eighteen (in light and dark pairs) when there are more than nine
    clusters; beyond that the colours repeat. No cluster colour is grey.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Cluster label of each item (or the labels themselves).

    Returns
    -------
    colours : dict
        Label -> matplotlib colour (a hex string), ``-1`` included.

    Examples
    --------
    >>> from skae.plotting import cluster_colours
    >>> cluster_colours([3, 3, -1, 5])
    {3: '#1f77b4', 5: '#ff7f0e', -1: '#bdbdbd'}
    """
    labels = np.asarray(labels)
    clusters = np.unique(labels[labels != NOISE]).tolist()
    palette = TAB10_WITHOUT_GREY if len(clusters) <= len(TAB10_WITHOUT_GREY) else (
        TAB20_WITHOUT_GREY)
    colours = {label: palette[i % len(palette)] for i, label in enumerate(clusters)}
    colours[NOISE] = NOISE_COLOUR
    return colours
