"""
======================================================
Few labels: accuracy against the number of labels
======================================================

A scientist has many images and the time to label a few. The autoencoder learns from all
of them; the classifier only from those with a label. scikit-learn's semi-supervised
convention marks the unlabelled rows with ``y == -1``, so one ``fit`` call takes
everything:

- :class:`~skae.ConvAutoEncoder` ignores ``y`` and learns codes from every image;
- :class:`~skae.FewLabelClassifier` fits its classifier on the rows whose label is not
  ``-1``;
- :class:`~skae.EncoderClassifier` goes one step further and fine-tunes the encoder
  itself, with a linear head, on the labelled rows ("continue from the latent space").

We draw the learning curve (test accuracy against labels per class) of the two skae
models and of logistic regression on raw pixels, on the Fashion-MNIST images bundled
with skae. See ``benchmarks/bench_few_labels_fashion_mnist.py`` for the full 60,000-image
version.
"""

# %%
# Data: 1,500 images to learn from, 500 to test on
# ------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import ConvAutoEncoder, EncoderClassifier, FewLabelClassifier
from skae.datasets import load_fashion_mnist_subset

X, y = load_fashion_mnist_subset(return_X_y=True)
X_pool, X_test, y_pool, y_test = train_test_split(
    X, y, test_size=500, stratify=y, random_state=0
)


def hide_labels(y, n_per_class, seed):
    """Keep ``n_per_class`` labels per class, mark every other row -1 (unlabelled)."""
    rng = np.random.RandomState(seed)
    y_few = np.full_like(y, -1)
    for c in np.unique(y):
        keep = rng.choice(np.flatnonzero(y == c), n_per_class, replace=False)
        y_few[keep] = y[keep]
    return y_few


y_few = hide_labels(y_pool, 5, seed=0)
print(f"{np.sum(y_few != -1)} labelled, {np.sum(y_few == -1)} unlabelled images")

# %%
# One pipeline, all rows
# ----------------------
# The autoencoder trains on all 1,500 images; the logistic regression on the 50 codes
# that have a label. ``score`` counts labelled rows only.
autoencoder = ConvAutoEncoder(latent_dim=16, channels=(16, 32), max_epochs=20, random_state=0)
few_label = Pipeline(
    [
        ("ae", autoencoder),
        ("clf", FewLabelClassifier(make_pipeline(StandardScaler(), LogisticRegression()))),
    ]
)
few_label.fit(X_pool, y_few)
print("trained on", few_label["clf"].n_labeled_, "labels; test accuracy",
      round(few_label.score(X_test, y_test), 3))

# %%
# The learning curve
# ------------------
# The autoencoder never sees a label, so we fit it once and share it, frozen, between
# all label budgets and seeds (``FrozenEstimator`` keeps it fitted through ``clone``).
frozen = FrozenEstimator(few_label["ae"])
n_labels = [1, 2, 5, 10, 20, 50]
seeds = [0, 1]
models = {
    "raw pixels + LR": lambda: make_pipeline(
        StandardScaler(), FewLabelClassifier(LogisticRegression(max_iter=1000))
    ),
    "skae codes + LR": lambda: Pipeline(
        [("ae", frozen),
         ("clf", FewLabelClassifier(make_pipeline(StandardScaler(), LogisticRegression())))]
    ),
    "skae fine-tuned encoder": lambda: EncoderClassifier(frozen, max_epochs=40, random_state=0),
}
flat_pool, flat_test = X_pool.reshape(len(X_pool), -1), X_test.reshape(len(X_test), -1)
accuracy = {name: np.zeros((len(n_labels), len(seeds))) for name in models}
for i, n in enumerate(n_labels):
    for j, seed in enumerate(seeds):
        y_few = hide_labels(y_pool, n, seed)
        for name, make in models.items():
            raw = name.startswith("raw")
            model = make().fit(flat_pool if raw else X_pool, y_few)
            accuracy[name][i, j] = model.score(flat_test if raw else X_test, y_test)
    print(f"{n:>3} labels per class: " + ", ".join(
        f"{name} {accuracy[name][i].mean():.3f}" for name in models))

# %%
# Plot
# ----
# Read the curve before trusting a model. On these 1,500 images, codes of 16 numbers
# learned without labels classify about as well as the 784 raw pixels with a handful of
# labels per class, and fall behind once labels are plentiful (a reconstruction code
# keeps what redraws the image, not only what separates the classes); fine-tuning the
# encoder on the labels recovers that gap. The full benchmark
# (``benchmarks/bench_few_labels_fashion_mnist.py``, 60,000 images) compares these and
# UMAP-based pipelines at 10 labels per class.
fig, ax = plt.subplots(figsize=(6.5, 4.5))
for name, marker in zip(models, "osD"):
    mean, std = accuracy[name].mean(axis=1), accuracy[name].std(axis=1)
    ax.errorbar(n_labels, mean, yerr=std, marker=marker, capsize=3, label=name)
ax.set_xscale("log")
ax.set_xticks(n_labels, [str(n) for n in n_labels])
ax.set_xlabel("labelled images per class (the rest of the 1,500 unlabelled)")
ax.set_ylabel("test accuracy (500 images)")
ax.set_title("Fashion-MNIST: learning from few labels")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
plt.show()
