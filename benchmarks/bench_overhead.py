"""Overhead of skae over hand-written PyTorch, side by side in one run.

1. ``ConvAutoEncoder.fit`` time against a hand-written training loop over the same
   module, data, optimizer (Adam), batch size, epochs and loss. Target: ratio <= 1.05.
2. ``transform`` throughput against a plain ``torch.no_grad()`` batched forward of the
   same encoder. Target: ratio >= 0.95.
3. Peak extra memory of ``transform`` on N and 10*N samples read from a uint8
   ``numpy.memmap``, each in a fresh process (anonymous RSS, sampled every ms; file pages
   of the memmap are not counted: they are the page cache, not transform's memory).
   Medians of ``--repeats`` fresh processes per size. Target: growth < 10 %. Printed
   three ways: the process's peak (anonymous RSS: torch, the model, transform's working
   memory and its result), the extra over the process with the model loaded, and that
   extra without the returned codes (``n * latent_dim * 4`` bytes, the result itself,
   which must grow with ``n``).

Runs alternate (skae, plain, skae, plain, ...) and medians are compared, which damps the
noise of a shared machine. Real data: Fashion-MNIST (the full training set when
installed, else the bundled subset).

Usage::

    python benchmarks/bench_overhead.py [--n-train 6000] [--epochs 2] [--repeats 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import torch
import torch.nn.functional as F

from skae import ConvAutoEncoder
from skae.nn import AutoEncoderModule, ConvDecoder, ConvEncoder, get_activation

LATENT_DIM, CHANNELS, BATCH_SIZE, LR = 16, (16, 32), 128, 1e-3


def load_images(n):
    from skae.datasets import load_fashion_mnist, load_fashion_mnist_subset

    try:
        X, _ = load_fashion_mnist("train", return_X_y=True)
        source = "Fashion-MNIST train"
    except (OSError, FileNotFoundError):
        X, _ = load_fashion_mnist_subset(return_X_y=True)
        source = "Fashion-MNIST bundled subset"
    reps = -(-n // len(X))
    return np.ascontiguousarray(np.concatenate([X] * reps)[:n], dtype=np.float32), source


# ---------------------------------------------------------------------- fit
def skae_fit(X, epochs, seed):
    ae = ConvAutoEncoder(latent_dim=LATENT_DIM, channels=CHANNELS, batch_size=BATCH_SIZE,
                         lr=LR, max_epochs=epochs, random_state=seed, device="cpu")
    start = time.perf_counter()
    ae.fit(X)
    return time.perf_counter() - start, ae


def plain_fit(X, epochs, seed):
    """What a PyTorch user writes: tensor data, randperm batches, Adam, MSE, log the loss."""
    torch.manual_seed(seed)
    shape = X.shape[1:]
    args = (1, shape, list(CHANNELS), LATENT_DIM, 3, "relu")
    model = AutoEncoderModule(ConvEncoder(*args), ConvDecoder(*args), get_activation("sigmoid"))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    start = time.perf_counter()
    X_t = torch.from_numpy(X).unsqueeze(1)
    model.train()
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(X_t))
        for i in range(0, len(X_t), BATCH_SIZE):
            xb = X_t[order[i : i + BATCH_SIZE]]
            optimizer.zero_grad()
            loss = F.mse_loss(model(xb), xb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return time.perf_counter() - start, model


# ---------------------------------------------------------------------- transform
def skae_transform(ae, X):
    start = time.perf_counter()
    codes = ae.transform(X)
    return time.perf_counter() - start, codes


def plain_transform(encoder, X, batch_size=1024):
    start = time.perf_counter()
    X_t = torch.from_numpy(X).unsqueeze(1)
    encoder.eval()
    with torch.no_grad():
        codes = torch.cat([encoder(xb) for xb in X_t.split(batch_size)]).numpy()
    return time.perf_counter() - start, codes


# ---------------------------------------------------------------------- memory
def _anon_rss():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def memory_child(model_path, data_path, n_total, n):
    """In a fresh process: load the model, measure the peak extra memory of transform."""
    from skae.persistence import load

    torch.set_num_threads(1)
    ae = load(model_path, device="cpu")
    X = np.memmap(data_path, dtype=np.uint8, mode="r", shape=(n_total, 28, 28))[:n]
    # Baseline: model loaded, nothing transformed yet. Every byte transform needs on top,
    # including first-call allocations of torch and the returned codes, counts.
    baseline = _anon_rss()
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _anon_rss())
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    codes = ae.transform(X)
    peak[0] = max(peak[0], _anon_rss())
    done.set()
    thread.join()
    print(json.dumps({"n": n, "peak_extra": peak[0] - baseline, "output": codes.nbytes,
                      "peak_process": peak[0]}))


def measure_memory(ae, n_small, repeats=3):
    n_large = 10 * n_small
    with tempfile.TemporaryDirectory() as tmp:
        from skae.persistence import save

        model_path = os.path.join(tmp, "model.safetensors")
        save(ae, model_path)
        data_path = os.path.join(tmp, "images.u8")
        rng = np.random.RandomState(0)
        mm = np.memmap(data_path, dtype=np.uint8, mode="w+", shape=(n_large, 28, 28))
        for start in range(0, n_large, 10000):
            stop = min(start + 10000, n_large)
            mm[start:stop] = rng.randint(0, 256, size=(stop - start, 28, 28), dtype=np.uint8)
        mm.flush()
        del mm
        runs = {n_small: [], n_large: []}
        for _ in range(repeats):  # the allocator's peaks vary by a few MB from run to run
            for n in (n_small, n_large):
                out = subprocess.run(
                    [sys.executable, __file__, "--memory-child", model_path, data_path,
                     str(n_large), str(n)],
                    check=True, capture_output=True, text=True,
                )
                runs[n].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {n: {key: statistics.median(run[key] for run in results) for key in results[0]}
            for n, results in runs.items()}


# ---------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=6000)
    parser.add_argument("--n-infer", type=int, default=20000)
    parser.add_argument("--n-memory", type=int, default=20000,
                        help="N of the memory measure (10*N rows are written to a temp file)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 gives stable timings on a shared machine)")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        model_path, data_path, n_total, n = args.memory_child
        memory_child(model_path, data_path, int(n_total), int(n))
        return

    torch.set_num_threads(args.threads)
    X, source = load_images(max(args.n_train, args.n_infer))
    X_train, X_infer = X[: args.n_train], X[: args.n_infer]
    print(f"skae overhead benchmark: {source}, 28x28, ConvAutoEncoder(latent_dim="
          f"{LATENT_DIM}, channels={CHANNELS}), batch_size={BATCH_SIZE}, Adam lr={LR}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device cpu, "
          f"{args.repeats} alternating repeats, medians\n")

    skae_fit(X_train[:256], 1, 0)  # warm-up: lazy imports (torch._dynamo by the optimizer)
    plain_fit(X_train[:256], 1, 0)
    fit_skae, fit_plain = [], []
    for r in range(args.repeats):
        t, ae = skae_fit(X_train, args.epochs, r)
        fit_skae.append(t)
        t, model = plain_fit(X_train, args.epochs, r)
        fit_plain.append(t)
    sk, pl = statistics.median(fit_skae), statistics.median(fit_plain)
    fit_ratio = sk / pl

    tr_skae, tr_plain = [], []
    skae_transform(ae, X_infer[:2048])
    plain_transform(ae.net_.module_.encoder, X_infer[:2048])
    for _ in range(args.repeats):
        t, codes = skae_transform(ae, X_infer)
        tr_skae.append(t)
        t, codes_plain = plain_transform(ae.net_.module_.encoder, X_infer)
        tr_plain.append(t)
    np.testing.assert_allclose(codes, codes_plain, rtol=1e-5, atol=1e-5)
    tsk, tpl = statistics.median(tr_skae), statistics.median(tr_plain)
    throughput_ratio = tpl / tsk

    memory = measure_memory(ae, args.n_memory, args.repeats)
    small, large = memory[args.n_memory], memory[10 * args.n_memory]
    growth = large["peak_extra"] / small["peak_extra"] - 1
    work_small = small["peak_extra"] - small["output"]
    work_large = large["peak_extra"] - large["output"]
    work_growth = work_large / work_small - 1

    mb = 2**20
    rows = [
        ("fit time (s)", f"{sk:.2f}", f"{pl:.2f}", f"{fit_ratio:.3f}", "<= 1.05",
         fit_ratio <= 1.05),
        ("transform (samples/s)", f"{len(X_infer) / tsk:,.0f}", f"{len(X_infer) / tpl:,.0f}",
         f"{throughput_ratio:.3f}", ">= 0.95", throughput_ratio >= 0.95),
    ]
    print(f"{'measure':<34}{'skae':>14}{'plain torch':>14}{'ratio':>9}{'target':>10}  ok")
    for name, a, b, ratio, target, ok in rows:
        print(f"{name:<34}{a:>14}{b:>14}{ratio:>9}{target:>10}  {'yes' if ok else 'NO'}")
    print(f"  fit runs (s): skae {[round(t, 2) for t in fit_skae]}, "
          f"plain {[round(t, 2) for t in fit_plain]}")
    print(f"  transform runs (s): skae {[round(t, 3) for t in tr_skae]}, "
          f"plain {[round(t, 3) for t in tr_plain]}")
    print()
    print(f"{'transform peak extra memory':<34}{'N=' + format(args.n_memory, ','):>14}"
          f"{'10N=' + format(10 * args.n_memory, ','):>14}{'growth':>9}{'target':>10}  ok")
    process_growth = large["peak_process"] / small["peak_process"] - 1
    print(f"{'  process peak (MB, anonymous RSS)':<34}{small['peak_process'] / mb:>14.1f}"
          f"{large['peak_process'] / mb:>14.1f}{process_growth:>9.1%}{'< 10%':>10}  "
          f"{'yes' if process_growth < 0.10 else 'NO'}")
    print(f"{'  extra over the loaded model':<34}{small['peak_extra'] / mb:>14.1f}"
          f"{large['peak_extra'] / mb:>14.1f}{growth:>9.1%}{'< 10%':>10}  "
          f"{'yes' if growth < 0.10 else 'NO'}")
    print(f"{'  of which the returned codes':<34}{small['output'] / mb:>14.1f}"
          f"{large['output'] / mb:>14.1f}")
    print(f"{'  working memory (total - codes)':<34}{work_small / mb:>14.1f}"
          f"{work_large / mb:>14.1f}{work_growth:>9.1%}{'< 10%':>10}  "
          f"{'yes' if work_growth < 0.10 else 'NO'}")
    print("  (input: uint8 numpy.memmap on disk, 784 B/sample; a float32 copy of the 10N "
          f"input would be {10 * args.n_memory * 784 * 4 / mb:,.0f} MB)")


if __name__ == "__main__":
    main()
