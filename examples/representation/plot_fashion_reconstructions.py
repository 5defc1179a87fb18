"""
=========================================
Reconstructing Fashion-MNIST images
=========================================

A :class:`~skae.ConvAutoEncoder` squeezes each 28x28 image (784 pixels) through a code
of 16 numbers and back. We train it on 1,500 of the 2,000 Fashion-MNIST images bundled
with skae, and look at the held-out images it reconstructs best and worst, the error of
each class, and the learning curve recorded by skorch.
"""

# %%
# Train a convolutional autoencoder
# ---------------------------------
# Images come as an array of shape ``(n, 28, 28)`` with pixels in [0, 1], so the output
# activation resolves to a sigmoid. ``early_stopping`` holds out 10% of the training
# images and keeps the weights of the best epoch.
import matplotlib.pyplot as plt
import numpy as np

from skae import ConvAutoEncoder
from skae.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist_subset

X, y = load_fashion_mnist_subset(return_X_y=True)
X_train, X_test, y_test = X[:1500], X[1500:], y[1500:]

autoencoder = ConvAutoEncoder(
    latent_dim=16,
    channels=(16, 32),
    max_epochs=25,
    batch_size=64,
    lr=2e-3,
    early_stopping=True,
    n_iter_no_change=4,
    random_state=0,
)
autoencoder.fit(X_train)
print(f"trained {autoencoder.n_epochs_} epochs; output activation:",
      autoencoder.output_activation_)

# %%
# Per-image error on held-out images
# ----------------------------------
# :meth:`~skae.ConvAutoEncoder.reconstruction_error` gives one float64 value per image.
errors = autoencoder.reconstruction_error(X_test)
reconstructions = autoencoder.reconstruct(X_test)
print(f"held-out mean squared error: {errors.mean():.4f}")
for k in np.argsort([errors[y_test == c].mean() for c in range(10)]):
    print(f"{FASHION_MNIST_CLASSES[k]:>12}: {errors[y_test == k].mean():.4f}")

# %%
# Figure: best and worst reconstructions, error per class, learning curve
# -----------------------------------------------------------------------
order = np.argsort(errors)
picks = {"best": order[:6], "worst": order[-6:][::-1]}

fig = plt.figure(figsize=(10, 6.5), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[0.6, 1])
for subfig, (title, idx) in zip(top.subfigures(1, 2), picks.items()):
    axes = subfig.subplots(2, len(idx))
    subfig.suptitle(f"{title} reconstructed (top: input, bottom: output)", fontsize=10)
    for c, i in enumerate(idx):
        axes[0, c].imshow(X_test[i], cmap="gray_r", vmin=0, vmax=1)
        axes[1, c].imshow(reconstructions[i], cmap="gray_r", vmin=0, vmax=1)
        axes[1, c].set_xlabel(f"{errors[i]:.3f}", fontsize=8)
        for ax in axes[:, c]:
            ax.set_xticks([])
            ax.set_yticks([])

ax_class, ax_curve = bottom.subplots(1, 2, width_ratios=[1.4, 1])
ax_class.boxplot([errors[y_test == c] for c in range(10)], showfliers=False)
ax_class.set_xticks(range(1, 11), FASHION_MNIST_CLASSES, rotation=45, ha="right")
ax_class.set(ylabel="reconstruction error (MSE)", title="Held-out error per class")

history = autoencoder.history_
ax_curve.plot(history[:, "train_loss"], label="training")
ax_curve.plot(history[:, "valid_loss"], label="validation (early stopping)")
ax_curve.set(xlabel="epoch", ylabel="loss", title="Learning curve", yscale="log")
ax_curve.legend()
plt.show()
