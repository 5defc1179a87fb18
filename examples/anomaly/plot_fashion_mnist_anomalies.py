"""
=================================================
Finding abnormal images and the pixels to blame
=================================================

An autoencoder trained on one kind of image only (here: trousers) reconstructs trousers
well and anything else badly. :class:`~skae.AEAnomalyDetector` turns that into
scikit-learn's outlier API (``score_samples``, ``decision_function``, ``predict``) and
shows, with ``error_map``, which pixels made an image abnormal.

Plain reconstruction error has a known weakness: a good autoencoder also reconstructs
many things it was not trained on. The default score (``method="hybrid"``) adds how far
an image's code lies from the codes of the training images; we compare both.
"""

# %%
# Normal data: trousers
# ---------------------
# The 2,000 Fashion-MNIST images bundled with skae, 200 per class. We train on 150
# trousers and rank the other 1,850 images: 50 unseen trousers and 1,800 other clothes.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score

from skae import AEAnomalyDetector, ConvAutoEncoder
from skae.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist_subset
from skae.plotting import plot_top_anomalies

X, y = load_fashion_mnist_subset(return_X_y=True)
normal = 1  # trouser
train = np.flatnonzero(y == normal)[:150]
test = np.setdiff1d(np.arange(len(X)), train)
X_train, X_test, y_test = X[train], X[test], y[test]

# %%
# Fit the detector
# ----------------
# With 150 images a small convolutional autoencoder with many small steps is enough; on
# thousands of images ``AEAnomalyDetector()`` picks a larger default by itself.
autoencoder = ConvAutoEncoder(
    latent_dim=8, channels=(16, 32), max_epochs=30, batch_size=16, lr=2e-3
)
detector = AEAnomalyDetector(autoencoder, random_state=0).fit(X_train)
scores = detector.score_samples(X_test)  # higher = more normal
is_anomaly = y_test != normal
print(f"AUROC, hybrid score: {roc_auc_score(is_anomaly, -scores):.3f}")
predicted = detector.predict(X_test)  # +1 inlier, -1 outlier (Tukey's fence)
print(f"flagged: {np.mean(predicted[is_anomaly] == -1):.0%} of other clothes, "
      f"{np.mean(predicted[~is_anomaly] == -1):.0%} of unseen trousers")

# %%
# Plain reconstruction error for comparison: same autoencoder, one score term.
plain = AEAnomalyDetector(
    autoencoder, method="reconstruction", error_smoothing=0, random_state=0
).fit(X_train)
print(f"AUROC, plain reconstruction error: "
      f"{roc_auc_score(is_anomaly, -plain.score_samples(X_test)):.3f}")

# %%
# Which classes look most abnormal?
# ---------------------------------
# The mean score per class: everything that is not a trouser scores lower.
fig, ax = plt.subplots(figsize=(7, 3))
per_class = [scores[y_test == c] for c in range(10)]
ax.boxplot(per_class, showfliers=False)
ax.set_xticks(range(1, 11), FASHION_MNIST_CLASSES, rotation=30, fontsize=8)
ax.axhline(detector.offset_, color="tab:red", ls="--", label="offset_ (threshold)")
ax.set_ylabel("score_samples")
ax.legend()
fig.tight_layout()

# %%
# The most abnormal images and their error maps
# ---------------------------------------------
# For the five lowest scores: the image, the autoencoder's reconstruction (a trouser-like
# guess) and the squared, lightly smoothed residual. The bright regions are what the
# autoencoder could not explain: sleeves, collars, the body of a bag.
names = np.array(FASHION_MNIST_CLASSES)
fig = plot_top_anomalies(detector, X_test, n_samples=5, y=names[y_test])
plt.show()
