"""Plotting: every figure skae draws, as independent functions on matplotlib figures.

matplotlib is imported only when a function is called. The figures of errors and
anomalies (:func:`plot_error_maps`, :func:`plot_top_anomalies`) are documented here;
the cluster figures (:func:`plot_cluster_map`, :func:`plot_exemplars`) are also
:mod:`skae.discovery`'s and :func:`plot_rate_distortion` is also
:mod:`skae.compression`'s. All of them colour clusters with one palette, in which no
cluster is grey: grey is for items in no cluster. The figures of the ``skae explore``
report live in the private module ``skae.plotting._report_figures``.
"""

from ._anomalies import plot_error_maps, plot_top_anomalies
from ._clusters import plot_cluster_map, plot_exemplars
from ._palette import cluster_colours
from ._rate_distortion import plot_rate_distortion

__all__ = [
    "cluster_colours",
    "plot_cluster_map",
    "plot_error_maps",
    "plot_exemplars",
    "plot_rate_distortion",
    "plot_top_anomalies",
]
