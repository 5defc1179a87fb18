"""Restoring real photographs: skae against NL-means, TV, wavelet, BM3D and biharmonic.

Data: the two photographs that ship with scikit-learn (``load_sample_images()``:
china.jpg and flower.jpg, 427x640 RGB), made grayscale with ``skimage.color.rgb2gray``
(float32 in [0, 1]). Nothing is downloaded. Two folds: train on patches of china and
test on flower, then the other way round; every table shows the mean of the two folds,
with the per-fold values below it. Patch sizes 32x32 and 64x64, each on its own.

Training patches: random PxP crops of the training photo with random 90-degree
rotations and left-right flips (seeded), 12,000 for 32x32 and 4,000 for 64x64 by
default. Test patches: the non-overlapping grid of PxP tiles of the other photo
(centred; 13x20 = 260 tiles at 32x32, 6x10 = 60 at 64x64), a seeded subsample of at
most ``--n-test`` of them.

De-noising at sigma in {0.05, 0.1, 0.2}: additive white Gaussian noise on [0, 1], NOT
clipped, seeded, the same noisy patches for every method. Score: PSNR (data range 1)
per patch against the clean patch, averaged over the patches. skae: ONE blind model per
patch size and fold, trained on clean patches with ``GaussianNoise((0.0, 0.25))``
(a fresh standard deviation per sample, unclipped), then ``reconstruct(noisy)`` at every
sigma; it is never told sigma. The classical de-noisers run per patch and ARE given the
true sigma (an advantage to them): ``denoise_nl_means(h=0.8 sigma, sigma=sigma,
patch_size=5, patch_distance=6, fast_mode=True)``, ``denoise_tv_chambolle`` with its
weight chosen per sigma from a small grid by mean PSNR on noisy TRAINING-photo patches
(never the test set), ``denoise_wavelet(sigma=sigma, method="BayesShrink", mode="soft",
rescale_sigma=True)`` and ``bm3d.bm3d(sigma_psd=sigma)`` (PyPI ``bm3d``; the row is
reported missing, with the reason, when it does not import). Their outputs are clipped
to [0, 1], where the clean photo lies (another small advantage; skae's sigmoid output
is there already). Target: skae >= the best classical + 0.5 dB at every sigma.

Inpainting: every test patch gets one HxH square hole (H = 8 and 16) at a seeded
random position fully inside the patch. skae: one model per patch size, hole size and
fold trained with ``BlockMask(H, fill="mean")`` (``BlockMask`` takes one size, so one
model per hole size), then ``inpaint(X, mask)``; baseline
``skimage.restoration.inpaint_biharmonic`` per patch. Score: PSNR of the squared error
pooled over all hole pixels (data range 1), as in bench_inpaint_fashion_mnist.py.
Target: skae >= biharmonic + 1 dB in the holes.

The skae models are built by ``skae_models`` (edit it to try other recipes): the new
recipe (``architecture="unet", residual=True``, channels (16, 32, 64), two convolutions
per level; ``mask_channel=True`` for inpainting) and the old bottleneck recipe
(``ConvAutoEncoder(latent_dim=128)``) as a second row, so the tables show old vs new.
The verdict lines judge the first one.

Run: ``python benchmarks/bench_restoration_photos.py`` (both patch sizes, both folds:
24 skae trainings, 12 of them U-Nets, at skae's ``max_epochs="auto"`` budget; several
hours on 2 CPU cores). The run quoted in the restoration guide fits the 2-core CPU
budget, 35 minutes alone on 2 cores, 12 of them BM3D::

    python benchmarks/bench_restoration_photos.py --n-train-32 4000 --n-train-64 1000 \
        --epochs 12 --n-test 100 --threads 2

With ``--device cuda`` the trainings take minutes and BM3D, which runs on the CPU at
about 0.45-0.75 s per patch whatever its size, is most of the run. ``--quick`` (400
training patches, 30 test patches, 2 epochs, 32x32 only) checks the script end to end
in about 3 minutes. ``--tasks inpaint`` (or ``denoise``) runs one half only, on the same
data as a whole run. ``--threads`` sets torch's CPU threads. The test tiles of a photo
number 260 (32x32) and 60 (64x64), so the default ``--n-test 300`` takes them all.
"""

import argparse
import os
import sys

import numpy as np
import torch
from skimage.color import rgb2gray
from skimage.restoration import (
    denoise_nl_means,
    denoise_tv_chambolle,
    denoise_wavelet,
    inpaint_biharmonic,
)
from sklearn.datasets import load_sample_images

from _clock import Clock
from skae import ConvAutoEncoder
from skae.corruption import BlockMask, GaussianNoise

try:
    import bm3d
except (ImportError, OSError) as exc:  # not installed, or its compiled part fails
    bm3d, BM3D_MISSING = None, f"{type(exc).__name__}: {exc}"
else:
    BM3D_MISSING = None

SIGMAS = (0.05, 0.1, 0.2)
HOLES = (8, 16)
TRAIN_NOISE = (0.0, 0.25)  # blind: one standard deviation per sample, uniform
TV_WEIGHTS = (0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0, 2.0)
DENOISE_TARGET, INPAINT_TARGET = 0.5, 1.0


def skae_models(patch, epochs, device, seed):
    """The skae recipes: name -> (blind de-noiser, {hole size: inpainter}), unfitted.

    The first entry is the recipe the verdict lines judge. ``patch`` (32 or 64) is there
    so that a recipe can depend on the patch size.
    """
    common = {"max_epochs": epochs, "device": device, "random_state": seed}

    def unet(corruption, inpainting=False):
        # Inpainting: the network is told where the holes are (mask_channel).
        return ConvAutoEncoder(architecture="unet", residual=True, channels=(16, 32, 64),
                               layers_per_level=2, latent_dim=64, batch_size=32,
                               mask_channel=inpainting, corruption=corruption, **common)

    def bottleneck(corruption, inpainting=False):  # the documented recipe before the U-Net
        return ConvAutoEncoder(latent_dim=128, corruption=corruption, **common)

    recipes = {"skae unet": unet, "skae bottleneck": bottleneck}
    return {
        name: (make([GaussianNoise(TRAIN_NOISE, clip=None)]),
               {hole: make([BlockMask(hole, fill="mean")], inpainting=True) for hole in HOLES})
        for name, make in recipes.items()
    }


def describe(model):
    params = model.get_params()
    keys = ("architecture", "residual", "mask_channel", "channels", "latent_dim",
            "max_epochs", "corruption")
    return ", ".join(f"{k}={params[k]!r}" for k in keys if k in params)


# -- data -------------------------------------------------------------------------------
def load_photos():
    bunch = load_sample_images()
    names = [os.path.splitext(os.path.basename(f))[0] for f in bunch.filenames]
    return {n: rgb2gray(img).astype(np.float32) for n, img in zip(names, bunch.images)}


def random_crops(photo, size, n, rng):
    """``n`` random size x size crops with random 90-degree rotations and flips."""
    rows = rng.integers(0, photo.shape[0] - size + 1, n)
    cols = rng.integers(0, photo.shape[1] - size + 1, n)
    turns, flips = rng.integers(0, 4, n), rng.random(n) < 0.5
    out = np.empty((n, size, size), dtype=np.float32)
    for k, (i, j, t, f) in enumerate(zip(rows, cols, turns, flips)):
        crop = np.rot90(photo[i : i + size, j : j + size], t)
        out[k] = np.fliplr(crop) if f else crop
    return out


def grid_tiles(photo, size, n_max, rng):
    """The centred non-overlapping grid of tiles, a seeded subsample of at most n_max."""
    n_rows, n_cols = photo.shape[0] // size, photo.shape[1] // size
    top = (photo.shape[0] - n_rows * size) // 2
    left = (photo.shape[1] - n_cols * size) // 2
    tiles = np.stack([
        photo[top + r * size : top + (r + 1) * size, left + c * size : left + (c + 1) * size]
        for r in range(n_rows) for c in range(n_cols)
    ])
    keep = np.sort(rng.choice(len(tiles), min(n_max, len(tiles)), replace=False))
    return tiles[keep], len(tiles)


def square_holes(n, hole, size, rng):
    mask = np.zeros((n, size, size), dtype=bool)
    rows = rng.integers(0, size - hole + 1, n)
    cols = rng.integers(0, size - hole + 1, n)
    for m, i, j in zip(mask, rows, cols):
        m[i : i + hole, j : j + hole] = True
    return mask


# -- scores -----------------------------------------------------------------------------
def psnr(estimate, clean):
    """Mean over patches of the per-patch PSNR, data range 1."""
    mse = np.mean((np.asarray(estimate, dtype=np.float64) - clean) ** 2, axis=(1, 2))
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-12))))


def hole_psnr(filled, clean, mask):
    """PSNR of the squared error pooled over all hole pixels, data range 1."""
    err = (np.asarray(filled, dtype=np.float64) - clean) ** 2
    return float(10 * np.log10(1.0 / max(err[mask].mean(), 1e-12)))


# -- classical de-noisers, per patch, given the true sigma ------------------------------
def per_patch(function, patches, **params):
    out = np.stack([function(p, **params) for p in patches])
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def nl_means(patches, sigma, _tuned):
    return per_patch(denoise_nl_means, patches, h=0.8 * sigma, sigma=sigma, fast_mode=True,
                     patch_size=5, patch_distance=6)


def tv(patches, sigma, tuned):
    return per_patch(denoise_tv_chambolle, patches, weight=tuned[sigma])


def wavelet(patches, sigma, _tuned):
    return per_patch(denoise_wavelet, patches, sigma=sigma, method="BayesShrink",
                     mode="soft", rescale_sigma=True)


def bm3d_denoise(patches, sigma, _tuned):
    return per_patch(lambda p: bm3d.bm3d(p.astype(np.float64), sigma_psd=sigma), patches)


CLASSICAL = {"NL-means": nl_means, "TV": tv, "wavelet": wavelet}
if bm3d is not None:
    CLASSICAL["BM3D"] = bm3d_denoise


def tune_tv(valid, rng):
    """TV weight per sigma by mean PSNR on noisy training-photo patches."""
    chosen = {}
    for sigma in SIGMAS:
        noisy = (valid + sigma * rng.standard_normal(valid.shape)).astype(np.float32)
        scores = [psnr(per_patch(denoise_tv_chambolle, noisy, weight=w), valid)
                  for w in TV_WEIGHTS]
        chosen[sigma] = TV_WEIGHTS[int(np.argmax(scores))]
    return chosen


# -- one fold ---------------------------------------------------------------------------
def run_fold(train_photo, test_photo, size, n_train, args, fold):
    """Scores and times of every method on one fold; see the module docstring."""
    rng = np.random.default_rng([args.seed, size, fold])
    train = random_crops(train_photo, size, n_train, rng)
    valid = random_crops(train_photo, size, args.n_valid, rng)
    test, n_tiles = grid_tiles(test_photo, size, args.n_test, rng)
    noisy = {s: (test + s * rng.standard_normal(test.shape)).astype(np.float32)
             for s in SIGMAS}
    masks = {h: square_holes(len(test), h, size, rng) for h in HOLES}
    holed = {h: np.where(m, 0.0, test).astype(np.float32) for h, m in masks.items()}

    # Everything above is drawn whatever the tasks, so that both give the same data.
    denoising, inpainting = "denoise" in args.tasks, "inpaint" in args.tasks
    denoise = {"noisy input": {s: psnr(noisy[s], test) for s in SIGMAS}}
    inpaint, times, notes = {}, {}, {}  # times: name -> [fit wall, fit cpu, rest. wall, cpu]
    clock = Clock()
    if denoising:
        tuned = tune_tv(valid, rng)
        tv_fit = clock.lap()
        notes["TV"] = "weight per sigma " + ", ".join(
            f"{s}: {w}" + (" (grid edge)" if w in (TV_WEIGHTS[0], TV_WEIGHTS[-1]) else "")
            for s, w in tuned.items())
        for name, function in CLASSICAL.items():
            clock.lap()
            denoise[name] = {s: psnr(function(noisy[s], s, tuned), test) for s in SIGMAS}
            fit = tv_fit if name == "TV" else (0.0, 0.0)
            times[name] = [*fit, *clock.lap()]

    if inpainting:
        clock.lap()
        inpaint["biharmonic"] = {
            h: hole_psnr(np.stack([inpaint_biharmonic(x, m)
                                   for x, m in zip(holed[h], masks[h])]), test, masks[h])
            for h in HOLES
        }
        times["biharmonic"] = [0.0, 0.0, *clock.lap()]

    changed = 0
    for name, (denoiser, inpainters) in skae_models(size, args.epochs, args.device,
                                                    args.seed + fold).items():
        notes[name] = describe(denoiser)
        if denoising:
            clock.lap()
            denoiser.fit(train)
            fit = clock.lap()
            denoise[name] = {s: psnr(denoiser.reconstruct(noisy[s]), test) for s in SIGMAS}
            times[name] = [*fit, *clock.lap()]
            notes[name] += (f"; de-noiser {denoiser.n_epochs_} epochs "
                            f"({denoiser.stop_reason_})")
        if not inpainting:
            continue
        inpaint[name], fit_total, restore_total = {}, np.zeros(2), np.zeros(2)
        for h, model in inpainters.items():
            clock.lap()
            model.fit(train)
            fit_total += clock.lap()
            filled = model.inpaint(holed[h], masks[h])
            restore_total += clock.lap()
            changed += int(np.count_nonzero(filled[~masks[h]] != holed[h][~masks[h]]))
            inpaint[name][h] = hole_psnr(filled, test, masks[h])
            notes[name] += (f"; hole {h}: {model.corruption!r}, {model.n_epochs_} epochs "
                            f"({model.stop_reason_})")
        times[name + " inpaint"] = [*fit_total, *restore_total]
    return {"denoise": denoise, "inpaint": inpaint, "times": times, "notes": notes,
            "n_test": len(test), "n_tiles": n_tiles, "n_train": len(train),
            "changed": changed}


# -- report -----------------------------------------------------------------------------
def mean_over(folds, table, name, key):
    return float(np.mean([f[table][name][key] for f in folds]))


def report(size, folds, fold_names, skae_names):
    first = folds[0]
    print(f"\n=== {size}x{size} patches: {first['n_train']} training crops per fold; "
          f"{first['n_test']} test tiles (of {first['n_tiles']}) per fold ===")
    for name in first["notes"]:
        for fold_name, fold in zip(fold_names, folds):
            print(f"  {name} [{fold_name}]: {fold['notes'][name]}")

    margins, fold_margins, in_margins, in_fold_margins = {}, {}, {}, {}
    if "TV" in first["denoise"]:
        margins, fold_margins = report_denoising(folds, fold_names, skae_names)
    if "biharmonic" in first["inpaint"]:
        in_margins, in_fold_margins = report_inpainting(folds, fold_names, skae_names)
    report_times(folds, first)
    return {"margins": margins, "fold_margins": fold_margins, "in_margins": in_margins,
            "in_fold_margins": in_fold_margins}


def report_denoising(folds, fold_names, skae_names):
    classical = list(CLASSICAL)
    heads = "".join(f"{'sigma ' + str(s):>11}" for s in SIGMAS)
    print(f"\nDe-noising, mean PSNR over patches (dB), mean of {len(folds)} folds")
    print(f"{'method':<26}{heads}")
    rows = ["noisy input", *classical, *skae_names]
    for name in rows:
        values = "".join(f"{mean_over(folds, 'denoise', name, s):11.2f}" for s in SIGMAS)
        print(f"{name:<26}{values}")
    if BM3D_MISSING:
        print(f"{'BM3D':<26}{'missing: ' + BM3D_MISSING}")
    best = {s: max(classical, key=lambda n: mean_over(folds, "denoise", n, s))
            for s in SIGMAS}
    print(f"{'best classical':<26}" + "".join(f"{best[s]:>11}" for s in SIGMAS))
    margins = {}
    for name in skae_names:
        margins[name] = {s: mean_over(folds, "denoise", name, s)
                         - mean_over(folds, "denoise", best[s], s) for s in SIGMAS}
        values = "".join(f"{margins[name][s]:+11.2f}" for s in SIGMAS)
        print(f"{name + ' - best':<26}{values}")

    print("\nper fold (dB): " + " | ".join(fold_names))
    for name in rows:
        cells = " | ".join(" ".join(f"{f['denoise'][name][s]:6.2f}" for s in SIGMAS)
                           for f in folds)
        print(f"  {name:<24}{cells}")
    fold_margins = {}
    for name in skae_names:
        fold_margins[name] = [
            {s: f["denoise"][name][s] - max(f["denoise"][n][s] for n in classical)
             for s in SIGMAS} for f in folds
        ]
        cells = " | ".join(" ".join(f"{m[s]:+6.2f}" for s in SIGMAS)
                           for m in fold_margins[name])
        print(f"  {name + ' - best':<24}{cells}")
    return margins, fold_margins


def report_inpainting(folds, fold_names, skae_names):
    heads = "".join(f"{'hole ' + str(h):>10}" for h in HOLES)
    print(f"\nInpainting, PSNR pooled over the hole pixels (dB), mean of {len(folds)} folds")
    print(f"{'method':<26}{heads}   per fold: " + " | ".join(fold_names))
    for name in ("biharmonic", *skae_names):
        values = "".join(f"{mean_over(folds, 'inpaint', name, h):10.2f}" for h in HOLES)
        cells = " | ".join(" ".join(f"{f['inpaint'][name][h]:6.2f}" for h in HOLES)
                           for f in folds)
        print(f"{name:<26}{values}   {cells}")
    in_margins, in_fold_margins = {}, {}
    for name in skae_names:
        in_margins[name] = {h: mean_over(folds, "inpaint", name, h)
                            - mean_over(folds, "inpaint", "biharmonic", h) for h in HOLES}
        in_fold_margins[name] = [{h: f["inpaint"][name][h] - f["inpaint"]["biharmonic"][h]
                                  for h in HOLES} for f in folds]
        cells = " | ".join(" ".join(f"{m[h]:+6.2f}" for h in HOLES)
                           for m in in_fold_margins[name])
        values = "".join(f"{in_margins[name][h]:+10.2f}" for h in HOLES)
        print(f"{name + ' - biharm.':<26}{values}   {cells}")
    return in_margins, in_fold_margins


def report_times(folds, first):
    n_patches = first["n_test"] * len(folds)
    print(f"\nTimes, summed over {len(folds)} folds (wall s / CPU s); restore covers all "
          f"{len(SIGMAS)} sigmas (de-noisers) or both hole sizes (inpainters); ms/patch "
          "is restore wall per patch and sigma (or hole)")
    print(f"{'method':<30}{'fit wall':>9}{'fit CPU':>9}{'rest. wall':>11}{'rest. CPU':>10}"
          f"{'ms/patch':>9}")
    for name in first["times"]:
        t = np.sum([f["times"][name] for f in folds], axis=0)
        n_calls = n_patches * (len(HOLES) if name == "biharmonic" or "inpaint" in name
                               else len(SIGMAS))
        print(f"{name:<30}{t[0]:9.1f}{t[1]:9.1f}{t[2]:11.1f}{t[3]:10.1f}"
              f"{1000 * t[2] / n_calls:9.2f}")


def verdict(size, margins, fold_margins, target, label):
    """Print whether every margin reaches ``target``; the numbers decide."""
    holds = all(v >= target for v in margins.values())
    folds_ok = sum(all(v >= target for v in fm.values()) for fm in fold_margins)
    shown = ", ".join(f"{label}{k}: {v:+.2f}" for k, v in margins.items())
    print(f"  {size}x{size}: margins {shown} dB (fold mean) -> "
          f"{'holds' if holds else 'does NOT hold'}; holds in {folds_ok} of "
          f"{len(fold_margins)} folds")
    return holds


def verdicts(results, judged):
    print(f"\n=== verdicts ({judged}) ===")
    missing = f" [BM3D row missing: {BM3D_MISSING}]" if BM3D_MISSING else ""
    holds = []
    if any(r["margins"] for r in results.values()):
        print(f"target: +{DENOISE_TARGET} dB over the best classical at every sigma, one "
              f"blind model per patch size{missing}")
        holds += [verdict(size, r["margins"][judged], r["fold_margins"][judged],
                          DENOISE_TARGET, "sigma ") for size, r in results.items()]
    if any(r["in_margins"] for r in results.values()):
        print(f"target: +{INPAINT_TARGET} dB over biharmonic in the holes")
        holds += [verdict(size, r["in_margins"][judged], r["in_fold_margins"][judged],
                          INPAINT_TARGET, "hole ") for size, r in results.items()]
    print(f"all targets: {'hold' if all(holds) else 'do NOT all hold'}")


def epochs_arg(value):
    return value if value == "auto" else int(value)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="400 training and 30 test patches, 2 epochs, 32x32 only")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64], choices=[32, 64])
    parser.add_argument("--epochs", type=epochs_arg, default="auto",
                        help='max_epochs of the skae models: an int or "auto" (default)')
    parser.add_argument("--n-train-32", type=int, default=12000)
    parser.add_argument("--n-train-64", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=300,
                        help="test tiles per fold, at most")
    parser.add_argument("--n-valid", type=int, default=100,
                        help="training-photo patches that tune the TV weight")
    parser.add_argument("--tasks", nargs="+", default=["denoise", "inpaint"],
                        choices=["denoise", "inpaint"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.epochs, args.n_test, args.n_valid = [32], 2, 30, 30
        args.n_train_32 = args.n_train_64 = 400
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    photos = load_photos()
    names = list(photos)
    folds = [(names[0], names[1]), (names[1], names[0])]
    fold_names = [f"{a}->{b}" for a, b in folds]
    skae_names = list(skae_models(32, args.epochs, args.device, args.seed))
    print("Restoring real photographs (scikit-learn's sample images, grayscale)")
    print(f"folds: {', '.join(fold_names)}; sizes {args.sizes}; sigmas {SIGMAS}; holes "
          f"{HOLES}; skae blind training noise std ~ U{TRAIN_NOISE}; epochs {args.epochs}; "
          f"device {args.device}; torch threads {torch.get_num_threads()}")
    print(f"classical de-noisers: {', '.join(CLASSICAL)} (given the true sigma, outputs "
          "clipped to [0, 1])" + (f"; BM3D MISSING ({BM3D_MISSING})" if BM3D_MISSING else ""))

    results, changed = {}, 0
    for size in args.sizes:
        n_train = args.n_train_32 if size == 32 else args.n_train_64
        per_fold = [run_fold(photos[a], photos[b], size, n_train, args, k)
                    for k, (a, b) in enumerate(folds)]
        changed += sum(f["changed"] for f in per_fold)
        results[size] = report(size, per_fold, fold_names, skae_names)
    verdicts(results, skae_names[0])
    print(f"known pixels returned bit for bit by skae inpaint: "
          f"{'yes' if changed == 0 else f'NO ({changed} changed)'}")
    return changed == 0


if __name__ == "__main__":
    wall_cpu = Clock()
    known_kept = main()
    wall, cpu = wall_cpu.lap()
    print(f"total: {wall:.0f} s wall, {cpu:.0f} s CPU (all threads of this process)")
    sys.exit(0 if known_kept else 1)
