"""
==========================
Choosing the latent size
==========================

``latent_dim`` is a hyperparameter like any other, and
:meth:`~skae.DenseAutoEncoder.score` returns minus the mean reconstruction error, so
scikit-learn's model selection tools work without a scorer. Held-out error keeps
falling as the code grows, but with diminishing returns; we draw the validation curve
and let :class:`~sklearn.model_selection.GridSearchCV` pick the smallest code whose
error is within 10% of the best, with PCA's curve as the linear baseline: where the two
curves meet, the nonlinearity stops paying for itself on this much data.
"""

# %%
# Data
# ----
import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, KFold

from skae import DenseAutoEncoder
from skae.datasets import load_fashion_mnist_subset

X, _ = load_fashion_mnist_subset(return_X_y=True)
X = X.reshape(len(X), -1)[:1200]  # 784 pixels in [0, 1]
latent_dims = [1, 2, 4, 8, 16, 32]
cv = KFold(n_splits=3, shuffle=True, random_state=0)


# %%
# Grid search that prefers small codes
# ------------------------------------
# ``refit`` may be a callable that picks the index of the best candidate from
# ``cv_results_``: here the smallest ``latent_dim`` whose mean held-out error is within
# 10% of the best one. (The "one standard error" rule is the other common choice; with
# errors as stable across folds as these, it would keep the largest code.)
TOLERANCE = 0.10


def smallest_within_tolerance(cv_results):
    error = -cv_results["mean_test_score"]
    good = np.flatnonzero(error <= (1 + TOLERANCE) * error.min())
    dims = np.asarray(cv_results["param_latent_dim"], dtype=int)
    return good[np.argmin(dims[good])]


autoencoder = DenseAutoEncoder(
    hidden_layer_sizes=(256,), max_epochs=25, batch_size=128, lr=2e-3, random_state=0
)
search = GridSearchCV(
    autoencoder,
    {"latent_dim": latent_dims},
    cv=cv,
    refit=smallest_within_tolerance,
    return_train_score=True,
)
search.fit(X)
print("chosen latent_dim:", search.best_params_["latent_dim"])

# %%
# PCA on the same folds
# ---------------------
# :class:`~sklearn.decomposition.PCA` scores by log-likelihood, so we compute its
# reconstruction error on the same folds ourselves.
pca_errors = np.zeros((len(latent_dims), cv.get_n_splits()))
for i, k in enumerate(latent_dims):
    for j, (train_idx, test_idx) in enumerate(cv.split(X)):
        pca = PCA(n_components=k).fit(X[train_idx])
        X_hat = pca.inverse_transform(pca.transform(X[test_idx]))
        pca_errors[i, j] = np.mean((X[test_idx] - X_hat) ** 2)

# %%
# Validation curve
# ----------------
# With 800 training images per fold, the autoencoder beats PCA clearly for small codes
# and loses its edge as the code grows: PCA's error keeps falling, while the network
# has more to fit from the same data.
results = search.cv_results_
valid = -results["mean_test_score"]
valid_sem = results["std_test_score"] / np.sqrt(cv.get_n_splits())
train = -results["mean_train_score"]
chosen = search.best_params_["latent_dim"]

fig, (ax, ax_img) = plt.subplots(
    1, 2, figsize=(10, 4), layout="constrained", width_ratios=[1.6, 1]
)
ax.errorbar(latent_dims, valid, yerr=valid_sem, marker="o", label="DenseAutoEncoder, held out")
ax.plot(latent_dims, train, "o--", color="C0", alpha=0.5, label="DenseAutoEncoder, training")
ax.plot(latent_dims, pca_errors.mean(1), "s-", color="C1", label="PCA, held out")
ax.axvline(chosen, color="gray", ls=":", label=f"chosen: latent_dim={chosen}")
ax.axhline((1 + TOLERANCE) * valid.min(), color="gray", lw=0.8, label="best + 10%")
ax.set(
    xscale="log", xticks=latent_dims, xticklabels=latent_dims, xlabel="latent_dim",
    ylabel="mean squared reconstruction error", title="Validation curve (3-fold CV)",
)
ax.legend(fontsize=8)

# The refitted best estimator reconstructs a few images with the chosen code size.
best = search.best_estimator_
sample = X[:4]
pairs = np.concatenate([sample, best.reconstruct(sample)]).reshape(2, 4, 28, 28)
ax_img.imshow(np.block([[img for img in row] for row in pairs]), cmap="gray_r")
ax_img.set(xticks=[], yticks=[], title=f"top: input, bottom: latent_dim={chosen}")
plt.show()
