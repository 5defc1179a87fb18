"""
==========================================================
Compressing images with an autoencoder: rate vs distortion
==========================================================

:class:`~skae.compression.AutoEncoderCodec` trains an autoencoder whose codes are
quantised to ``2**bits`` levels (with uniform noise standing in for rounding during
training), then entropy-codes them with an ANS coder under a per-dimension probability
model fitted on the training codes. ``compress`` returns real bytes; their length, header
included, is the rate. We sweep the bit depth, compare with JPEG, JPEG 2000 and PCA at the
same rates, and look at images decoded at a few rates.
"""

# %%
# Data and a first codec
# ----------------------
# The 2,000 Fashion-MNIST images bundled with skae: 1,600 to train, 400 to compress.
# A small convolutional autoencoder with a 24-value code, 3 bits per value.
import io

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from skae import ConvAutoEncoder
from skae.compression import (
    AutoEncoderCodec,
    InvalidPayloadError,
    plot_rate_distortion,
    rate_distortion_curve,
)
from skae.datasets import load_fashion_mnist_subset

X, _ = load_fashion_mnist_subset(return_X_y=True)
X_train, X_test = X[:1600], X[1600:]


def make_codec(bits):
    ae = ConvAutoEncoder(
        latent_dim=24, channels=(16, 32), max_epochs=18, lr=3e-3, random_state=0
    )
    return AutoEncoderCodec(ae, bits=bits)


codec = make_codec(bits=3).fit(X_train)
payload = codec.compress(X_test)
print(f"{len(X_test)} images -> {len(payload)} bytes "
      f"= {codec.bits_per_value(payload):.3f} bits per pixel "
      f"({8 * len(payload) / len(X_test):.0f} bits per image)")
print(f"model (not in the payload): decoder {codec.decoder_nbytes_ / 1e3:.0f} kB, "
      f"entropy model {codec.entropy_model_nbytes_} B, fingerprint {codec.fingerprint_}")

# %%
# The payload decodes to exactly the quantised reconstruction, and damage is detected
# by the checksum rather than decoded into garbage.
decoded = codec.decompress(payload)
print("decompress(compress(X)) == reconstruct(X):",
      bool((decoded == codec.reconstruct(X_test)).all()))
try:
    codec.decompress(payload[:-5])
except InvalidPayloadError as error:
    print("truncated payload:", error)

# %%
# Rate–distortion curves
# ----------------------
# Codecs at 2, 3 and 4 bits per code value, PCA with the same quantiser and coder (the
# best points of a grid of components x bits), and Pillow's JPEG and JPEG 2000 coding
# the 400 test images as one mosaic (one header for the set, as for skae's payload).
codecs = {f"skae {bits} bits": make_codec(bits).fit(X_train) for bits in (2, 4)}
codecs["skae 3 bits"] = codec
curve = rate_distortion_curve(
    X_test,
    codecs,
    X_fit=X_train,
    pca_components=(8, 16, 24, 32),
    pca_bits=(3, 4, 5),
    jpeg_qualities=(1, 3, 5, 10, 20),
    jpeg2000_bpp=(0.05, 0.1, 0.15, 0.2, 0.3, 0.5),
    modes=("mosaic",),
)
print(curve[curve["pareto"]][["codec", "setting", "bpp", "psnr", "ssim"]]
      .sort_values(["codec", "bpp"]).to_string(index=False))

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
plot_rate_distortion(curve, ax=axes[0])
plot_rate_distortion(curve, metric="ssim", ax=axes[1])
for ax in axes:
    ax.set_xlim(0, 0.6)
fig.tight_layout()

# %%
# Images decoded at a few rates
# -----------------------------
# Top row: the originals. Then skae at three rates, and JPEG 2000 on the mosaic at
# about the rate of the 3-bit codec.
images = X_test[:8]
rows = [("original", images)]
for name in ("skae 2 bits", "skae 3 bits", "skae 4 bits"):
    bpp = codecs[name].bits_per_value(codecs[name].compress(X_test))
    rows.append((f"{name}\n{bpp:.3f} bpp", codecs[name].reconstruct(images)))

skae_bpp = codec.bits_per_value(payload)
mosaic = np.hstack(list(np.rint(X_test * 255).astype(np.uint8)))  # 28 x (400 * 28)
buffer = io.BytesIO()
Image.fromarray(mosaic).save(buffer, "JPEG2000", quality_mode="rates",
                             quality_layers=[8 / skae_bpp], irreversible=True,
                             no_jp2=True)
jp2_bpp = 8 * buffer.tell() / X_test.size
jp2 = np.asarray(Image.open(io.BytesIO(buffer.getvalue()))) / 255
rows.append((f"JPEG 2000\n{jp2_bpp:.3f} bpp", jp2[:, : 8 * 28].reshape(28, 8, 28)
             .transpose(1, 0, 2)))

fig, axes = plt.subplots(len(rows), 8, figsize=(8, 1.15 * len(rows)))
for (label, row), ax_row in zip(rows, axes):
    for image, ax in zip(row, ax_row):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    ax_row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
fig.tight_layout()
plt.show()
