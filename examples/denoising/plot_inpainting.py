"""
=============================================
Inpainting: filling holes with an autoencoder
=============================================

An autoencoder trained with random blocks blanked out of its inputs
(``corruption=BlockMask(...)``), but clean targets, learns what clothes look like
behind the blocks. ``inpaint(X, mask)`` then fills the masked pixels of new images -
holes of any shape, not only blocks - and returns every known pixel unchanged. We
compare it with scikit-image's biharmonic inpainting, which continues the surrounding
surface smoothly but knows nothing of the objects.
"""

# %%
# Training with random blocks
# ---------------------------
# ``fill="mean"`` writes the local mean of the block's border into each block, the same
# first guess that ``inpaint`` starts from.
import matplotlib.pyplot as plt
import numpy as np
from skimage.restoration import inpaint_biharmonic

from skae import ConvAutoEncoder
from skae.corruption import BlockMask
from skae.datasets import load_fashion_mnist_subset

X, _ = load_fashion_mnist_subset(return_X_y=True)
X_train, X_test = X[:1600], X[1600:1608]

inpainter = ConvAutoEncoder(
    latent_dim=64, channels=(16, 32), max_epochs=25, lr=2e-3,
    corruption=BlockMask(10, n_blocks=(1, 2), fill="mean"), random_state=0,
)
inpainter.fit(X_train)

# %%
# Holes of different shapes
# -------------------------
# A square, a disc, a diagonal scratch and 50 % of the pixels missing at random: the
# mask is a boolean array, True where a value is missing.
rng = np.random.default_rng(0)
yy, xx = np.mgrid[:28, :28]
masks = np.zeros(X_test.shape, dtype=bool)
masks[0:2, 8:20, 8:20] = True
masks[2:4] = np.hypot(yy - 14, xx - 14) < 7
masks[4:6] = np.abs(yy - xx) <= 2
masks[6:8] = rng.random((2, 28, 28)) < 0.5

filled = inpainter.inpaint(X_test, masks)
assert np.array_equal(filled[~masks], X_test[~masks])  # known pixels kept exactly
biharmonic = np.stack([inpaint_biharmonic(np.where(m, 0, x), m)
                       for x, m in zip(X_test, masks)])


def hole_mse(estimate):
    return np.mean((estimate[masks] - X_test[masks]) ** 2)


print(f"MSE in the holes: biharmonic {hole_mse(biharmonic):.4f}, "
      f"autoencoder {hole_mse(filled):.4f}")

# %%
# Results
# -------
shown = np.where(masks, np.nan, X_test)
rows = [("with holes", shown), ("biharmonic", biharmonic), ("autoencoder", filled),
        ("original", X_test)]
cmap = plt.get_cmap("gray_r").copy()
cmap.set_bad("tab:red")
fig, axes = plt.subplots(len(rows), len(X_test), figsize=(10, 5.5))
for (title, images), row in zip(rows, axes):
    for image, ax in zip(images, row):
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(title)
fig.suptitle("Inpainting Fashion-MNIST: holes in red")
plt.show()
