"""
=================================
PCA as a linear autoencoder
=================================

A linear autoencoder trained with the squared error has no local minima but the global
one, and there its decoder spans the same subspace as the top principal components
(Baldi & Hornik, 1989). :class:`~skae.LinearAutoEncoder` is that model: we fit it and
:class:`sklearn.decomposition.PCA` on the bundled Fashion-MNIST images, measure the
angles between the two subspaces, compare their reconstruction errors, and then see
what a nonlinear :class:`~skae.DenseAutoEncoder` with the same code size adds.
"""

# %%
# Data: 2,000 real Fashion-MNIST images, bundled with skae
# --------------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skae import DenseAutoEncoder, LinearAutoEncoder
from skae.datasets import load_fashion_mnist_subset

X, y = load_fashion_mnist_subset(return_X_y=True)
X = X.reshape(len(X), -1)  # 784 pixels in [0, 1] per row
X_train, X_test = train_test_split(X, test_size=500, random_state=0)
latent_dim = 6

# %%
# Fit PCA and the linear autoencoder
# ----------------------------------
# The linear autoencoder's default optimiser is full-batch L-BFGS. Here 80 epochs bring
# every principal angle below a few degrees; the last direction, whose eigenvalue is
# close to the next one, is the slowest to settle. PCA centres the data; a linear autoencoder learns the mean through
# its biases, so both describe the same affine subspace.
pca = PCA(n_components=latent_dim).fit(X_train)
linear_ae = LinearAutoEncoder(latent_dim=latent_dim, max_epochs=80, random_state=0)
linear_ae.fit(X_train)

# %%
# Principal angles between the two subspaces
# ------------------------------------------
# The columns of the decoder's weight matrix span the autoencoder's subspace. The
# cosine of every principal angle between it and PCA's is close to 1: the same
# subspace, found by gradient descent instead of an eigendecomposition.
decoder_weight = linear_ae.decoder_[0].weight.detach().numpy()  # (784, latent_dim)
angles = np.degrees(subspace_angles(decoder_weight, pca.components_.T))
print("principal angles (degrees):", np.round(np.sort(angles), 2))

# %%
# The codes differ by an invertible linear map
# --------------------------------------------
# The autoencoder's weights are not orthonormal, so its codes are not the principal
# components themselves, but a linear regression recovers one from the other.
codes_ae = linear_ae.transform(X_test)
codes_pca = pca.transform(X_test)
coef, *_ = np.linalg.lstsq(np.c_[codes_ae, np.ones(len(codes_ae))], codes_pca, rcond=None)
fitted = np.c_[codes_ae, np.ones(len(codes_ae))] @ coef
r2 = 1 - ((codes_pca - fitted) ** 2).sum() / ((codes_pca - codes_pca.mean(0)) ** 2).sum()
print(f"R^2 of PCA codes regressed on autoencoder codes: {r2:.4f}")

# %%
# A nonlinear autoencoder with the same code size
# -----------------------------------------------
dense_ae = DenseAutoEncoder(
    latent_dim=latent_dim, hidden_layer_sizes=(256,), max_epochs=25, random_state=0
).fit(X_train)

reconstructions = {
    "PCA": pca.inverse_transform(pca.transform(X_test)),
    "LinearAutoEncoder": linear_ae.reconstruct(X_test),
    "DenseAutoEncoder": dense_ae.reconstruct(X_test),
}
for name, X_hat in reconstructions.items():
    print(f"{name:>18}: test MSE = {np.mean((X_hat - X_test) ** 2):.5f}")

# %%
# Figure: subspace agreement and reconstructions
# ----------------------------------------------
fig = plt.figure(figsize=(10, 6.2), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.25])
ax_angle, ax_mse = top.subplots(1, 2)
ax_angle.bar(np.arange(1, latent_dim + 1), np.cos(np.radians(np.sort(angles))))
ax_angle.set(
    ylim=(0.995, 1.0001), xlabel="principal angle index",
    ylabel="cosine", title="LinearAutoEncoder vs PCA subspace",
)
names = list(reconstructions)
mses = [np.mean((reconstructions[n] - X_test) ** 2) for n in names]
ax_mse.barh(names, mses, color=["C0", "C1", "C2"])
ax_mse.set(xlabel="test mean squared error", title=f"latent_dim={latent_dim}")

rows = ["original", *names]
show = np.arange(6)
axes = bottom.subplots(len(rows), len(show))
images = [X_test, *reconstructions.values()]
for r, (label, imgs) in enumerate(zip(rows, images)):
    for c, i in enumerate(show):
        ax = axes[r, c]
        ax.imshow(imgs[i].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if c == 0:
            ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
plt.show()
