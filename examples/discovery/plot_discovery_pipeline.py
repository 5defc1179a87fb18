"""
=====================================================
Discovery: clusters, exemplars and a map of the codes
=====================================================

Nobody labelled these images. How many kinds of thing are in them, which images are
typical of each kind, and where does a *new* batch of images fall?

The discovery pipeline is three scikit-learn steps: a :class:`~skae.ConvAutoEncoder`
turns each image into a short code, UMAP embeds the codes so that neighbours stay
neighbours, and HDBSCAN finds dense groups, leaving items that belong to no group as
noise (``-1``). :mod:`skae.discovery` reports the clusters, draws the map and the
exemplars, and assigns new images to the clusters through the *fitted* encoder and the
*fitted* UMAP's ``transform`` (:func:`~skae.discovery.predict_clusters`).

The true classes are used only at the end, to see what the clusters found.
"""

# %%
# Fit the discovery pipeline
# --------------------------
import matplotlib.pyplot as plt
import numpy as np
from hdbscan import HDBSCAN
from sklearn.metrics import normalized_mutual_info_score
from sklearn.pipeline import Pipeline
from umap import UMAP

from skae import ConvAutoEncoder
from skae.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist_subset
from skae.discovery import (
    cluster_report,
    plot_cluster_map,
    plot_exemplars,
    predict_clusters,
)
from skae.plotting import cluster_colours

X, y = load_fashion_mnist_subset(return_X_y=True)
X_old, y_old = X[:1600], y[:1600]  # the images we explore
X_new, y_new = X[1600:], y[1600:]  # a batch that arrives later

discovery = Pipeline(
    [
        ("ae", ConvAutoEncoder(latent_dim=16, channels=(16, 32), max_epochs=20,
                               random_state=0)),
        ("umap", UMAP(n_components=5, n_neighbors=15, min_dist=0.0, n_epochs=200, random_state=0,
                      n_jobs=1)),
        ("cluster", HDBSCAN(min_cluster_size=40, min_samples=10, prediction_data=True)),
    ]
)
labels = discovery.fit_predict(X_old)

# %%
# The cluster report
# ------------------
# How many clusters, how large, how much noise; the exemplars are the images with the
# strongest membership in their cluster.
report = cluster_report(labels, probabilities=discovery["cluster"].probabilities_,
                        n_exemplars=8)
print(report)

# %%
# What the clusters are (using the labels we held back)
# -----------------------------------------------------
for label in report.cluster_labels:
    counts = np.bincount(y_old[labels == label], minlength=10)
    top = np.argsort(-counts)[:2]
    print(f"cluster {label}: " + ", ".join(
        f"{FASHION_MNIST_CLASSES[c]} {counts[c] / counts.sum():.0%}" for c in top))
print("NMI with the classes:", round(normalized_mutual_info_score(y_old, labels), 3))

# %%
# Exemplars of each cluster
# -------------------------
fig = plot_exemplars(X_old, report)
fig.suptitle("Most typical images of each cluster")
plt.show()

# %%
# New images, old map
# -------------------
# The new batch goes through the fitted encoder and UMAP's ``transform``; nothing is
# refitted. HDBSCAN's ``approximate_predict`` assigns each new image to a known cluster,
# or to none (``-1``): those are the candidates for a kind not seen before.
new_labels, strength = predict_clusters(discovery, X_new, return_strength=True)
print(f"{np.mean(new_labels == -1):.0%} of the new images fall outside every cluster")
agreement = np.mean([
    np.bincount(y_old[labels == c]).argmax() == true
    for c, true in zip(new_labels, y_new) if c != -1
])
print(f"new images given the majority class of their cluster: {agreement:.0%} correct")

# %%
# A 2-D map of the codes
# ----------------------
# A 2-D UMAP of the codes, for display (the clusters were found in five). It is fitted on
# the old images only; the new ones are placed on that same map by its ``transform``, as
# the pipeline placed them in five dimensions. Both panels use one palette
# (:func:`skae.plotting.cluster_colours` of the old clusters), so a new image drawn in a
# cluster's colour was assigned to that cluster; black crosses fall outside every one.
codes_old = discovery["ae"].transform(X_old)
codes_new = discovery["ae"].transform(X_new)
map_of_old = UMAP(n_components=2, n_epochs=200, random_state=0, n_jobs=1).fit(codes_old)
old_xy, new_xy = map_of_old.embedding_, map_of_old.transform(codes_new)
colours = cluster_colours(labels)
fig, axes = plt.subplots(1, 2, figsize=(12, 6), sharex=True, sharey=True)
plot_cluster_map(old_xy, labels, ax=axes[0], colours=colours)
axes[0].set_title("Clusters found by HDBSCAN")
axes[1].scatter(*old_xy.T, s=2, c="#eeeeee")
inside = new_labels != -1
plot_cluster_map(new_xy[inside], new_labels[inside], ax=axes[1], point_size=10,
                 colours=colours)
axes[1].scatter(*new_xy[~inside].T, s=14, c="black", marker="x",
                label="outside every cluster")
axes[1].legend(loc="lower right")
axes[1].set_title("New images, placed on the same map")
fig.tight_layout()
plt.show()
