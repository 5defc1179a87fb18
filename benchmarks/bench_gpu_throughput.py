"""Training and inference throughput of ConvAutoEncoder on whatever device is found.

Side by side in one run: skae ``fit``/``transform`` against a hand-written PyTorch loop
over the same module on the same device, in float32 (run first and last; ratios are
against the mean of the two), then skae: with and without its prefetch thread, fed from
a ``torch.utils.data.Dataset``, with mixed precision (``precision="bf16-mixed"`` /
``"16-mixed"``, CUDA only) and, with ``--compile``,
``net_params={"compile": True}`` (``torch.compile``). Data: Fashion-MNIST images (the
full training set when installed, else the bundled subset, repeated), optionally
upsampled to ``--image-size`` pixels a side, kept as uint8 and converted per batch.

Usage::

    python benchmarks/bench_gpu_throughput.py [--n 20000] [--image-size 28] [--epochs 2]
"""

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from skae import ConvAutoEncoder
from skae.nn import AutoEncoderModule, ConvDecoder, ConvEncoder, get_activation

CHANNELS, LATENT_DIM, LR = (32, 64, 128), 32, 1e-3


def load_uint8_images(n, size):
    from skae.datasets import load_fashion_mnist, load_fashion_mnist_subset

    try:
        X, _ = load_fashion_mnist("train", scale=False, return_X_y=True)
    except (OSError, FileNotFoundError):
        X, _ = load_fashion_mnist_subset(scale=False, return_X_y=True)
    X = np.concatenate([X] * (-(-n // len(X))))[:n]
    if size != X.shape[1]:
        out = np.empty((n, size, size), dtype=np.uint8)
        for start in range(0, n, 2048):
            batch = torch.from_numpy(X[start : start + 2048]).float().unsqueeze(1)
            out[start : start + 2048] = F.interpolate(batch, size=(size, size),
                                                      mode="bilinear").squeeze(1).round()
        X = out
    return X


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def plain_fit(X, device, epochs, batch_size):
    torch.manual_seed(0)
    args = (1, X.shape[1:], list(CHANNELS), LATENT_DIM, 3, "relu")
    model = AutoEncoderModule(ConvEncoder(*args), ConvDecoder(*args),
                              get_activation("identity")).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    sync(device)
    start = time.perf_counter()
    X_t = torch.from_numpy(X).unsqueeze(1)
    for _ in range(epochs):
        order = torch.randperm(len(X_t))
        for i in range(0, len(X_t), batch_size):
            xb = X_t[order[i : i + batch_size]].to(device).float()
            optimizer.zero_grad()
            loss = F.mse_loss(model(xb), xb)
            loss.backward()
            optimizer.step()
            loss.item()
    sync(device)
    return time.perf_counter() - start, model


def plain_transform(encoder, X, device, batch_size=1024):
    sync(device)
    start = time.perf_counter()
    X_t = torch.from_numpy(X).unsqueeze(1)
    with torch.no_grad():
        codes = torch.cat([encoder(xb.to(device).float()).cpu() for xb in X_t.split(batch_size)])
    sync(device)
    return time.perf_counter() - start, codes.numpy()


def skae_run(X, device, epochs, batch_size, dataset=False, **params):
    if dataset:  # a user's map-style Dataset of uint8 tensors, fetched per sample
        X = torch.utils.data.TensorDataset(torch.from_numpy(X))
    ae = ConvAutoEncoder(latent_dim=LATENT_DIM, channels=CHANNELS, lr=LR, max_epochs=epochs,
                         batch_size=batch_size, device=device, random_state=0,
                         output_activation="identity", **params)
    sync(device)
    start = time.perf_counter()
    ae.fit(X)
    sync(device)
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    ae.transform(X)
    sync(device)
    return fit_time, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="samples (default: 20000 on "
                        "CUDA, 3000 on CPU)")
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    n = args.n or (20000 if device == "cuda" else 3000)
    X = load_uint8_images(n, args.image_size)
    name = (torch.cuda.get_device_name() if device == "cuda"
            else f"CPU, {torch.get_num_threads()} threads")
    print(f"device: {device} ({name}); torch {torch.__version__}")
    print(f"data: {n} uint8 images {args.image_size}x{args.image_size}, ConvAutoEncoder "
          f"channels={CHANNELS} latent_dim={LATENT_DIM}, batch_size={args.batch_size}, "
          f"{args.epochs} epochs\n")

    # warm-up (CUDA context, cuDNN autotuning, lazy imports)
    plain_fit(X[: args.batch_size * 2], device, 1, args.batch_size)
    skae_run(X[: args.batch_size * 2], device, 1, args.batch_size)

    rows = []
    fit_t, model = plain_fit(X, device, args.epochs, args.batch_size)
    tr_t, _ = plain_transform(model.encoder.eval(), X, device)
    rows.append(("plain PyTorch loop, float32", fit_t, tr_t))
    configs = [
        ("skae, precision='32'", {}),
        ("skae, '32', no prefetch thread", {"net_params": {"iterator_train__prefetch": False}}),
        ("skae, '32', no pinned memory", {"net_params": {"iterator_train__pin_memory": False}}),
        ("skae, '32', from a torch Dataset", {"dataset": True}),
    ]
    if device == "cuda":
        if torch.cuda.is_bf16_supported():
            configs.append(("skae, precision='bf16-mixed'", {"precision": "bf16-mixed"}))
        configs.append(("skae, precision='16-mixed'", {"precision": "16-mixed"}))
    if args.compile:
        configs.append(("skae, torch.compile", {"net_params": {"compile": True}}))
    for label, params in configs:
        fit_t, tr_t = skae_run(X, device, args.epochs, args.batch_size, **params)
        rows.append((label, fit_t, tr_t))

    # The plain loop once more, last: its two runs bracket the skae runs (clock drift).
    fit_t, model = plain_fit(X, device, args.epochs, args.batch_size)
    tr_t, _ = plain_transform(model.encoder.eval(), X, device)
    rows.append(("plain PyTorch loop, again", fit_t, tr_t))
    base_fit = (rows[0][1] + rows[-1][1]) / 2
    base_tr = (rows[0][2] + rows[-1][2]) / 2
    print(f"{'run':<34}{'fit samples/s':>15}{'vs plain':>10}{'transform samples/s':>21}"
          f"{'vs plain':>10}")
    for label, fit_t, tr_t in rows:
        fit_sps = n * args.epochs / fit_t
        print(f"{label:<34}{fit_sps:>15,.0f}{base_fit / fit_t:>10.2f}{n / tr_t:>21,.0f}"
              f"{base_tr / tr_t:>10.2f}")
    if device == "cuda":
        print(f"\npeak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
