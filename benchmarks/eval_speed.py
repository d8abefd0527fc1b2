"""Evaluation throughput: predict and score per method x framework at 256 px, beside a plain
per-image scikit-image loop on the same items.

    python -m benchmarks.eval_speed [--items 48] [--threads 2] [--methods pconv telea ...]
        [--device cpu|cuda] [--stand-in-backbones] [--demo]

Builds a 256 px test split (the CelebA-HQ sample's faces when ../shared/data holds them, else
crops of scikit-image's photographs), one 256 px irregular mask per item spread over the six
buckets, and for each learned method a checkpoint of its spec-size network at its seeded initial
weights (the speed of a forward pass does not depend on the values). Then, per method x
framework, it runs the predict and score CLIs as whole processes, as a workflow job does, and
prints items/s of each and of both together (wall time, start-up included) with the in-process
time each CLI records. The reference is a plain loop in this process over the same items:
decode the three PNGs, scikit-image PSNR and SSIM, numpy L1 and hole L1.

--stand-in-backbones adds LPIPS and FID (with its reference statistics) to the score, timed in
this process with seeded random AlexNet and Inception files registered under their file names:
the values are meaningless and only the time is printed. --demo times the score CLI on the demo's
96 telea items (results/ of a built demo) against the plain loop on them.
A benchmark, not a test: nothing is asserted.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import skimage.data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import methods
from datasets import pairing, store
from datasets.io import decode_source, read_mask, read_rgb
from datasets.masks.build import build
from methods import checkpoint

SIZE = 256
SHARED_FACES = Path(__file__).resolve().parents[2] / "shared/data/celebahq_sample"


def test_images(count):
    """count (256, 256, 3) uint8 images: real faces if available, else photograph crops."""
    if SHARED_FACES.is_dir():
        files = sorted(SHARED_FACES.glob("*.jpg"))
        return [decode_source(files[i % len(files)].read_bytes(), SIZE) for i in range(count)]
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        photo = photos[i % len(photos)]
        y, x = (rng.integers(0, s - SIZE + 1) for s in photo.shape[:2])
        out.append(np.ascontiguousarray(photo[y:y + SIZE, x:x + SIZE]))
    return out


def workspace(root, items):
    """Test split, masks and the sized pairs file (one item per mask) under root."""
    images = test_images(items)
    store.write_manifest(root / "data", [
        dict(id=f"b{i:04d}", file=f"b{i:04d}.png",
             sha256=store.write_test_image(root / "data", f"b{i:04d}", image)[1])
        for i, image in enumerate(images)])
    per_bucket = -(-items // 6)
    build({"kind": "irregular", "resolution": SIZE, "per_bucket": per_bucket, "seed": 1},
          root / "masks")
    pairing.main(["--images", str(root / "data"), "--masks", str(root / "masks"),
                  "--items-per-bucket", str(per_bucket), "--out", str(root / "pairs.tsv")])


def initial_checkpoint(method, framework, folder):
    """The spec-size network's seeded initial weights, saved as a harness checkpoint."""
    spec = methods.load_spec(method)
    model = methods.implementation(method, framework).build(spec)
    state = getattr(checkpoint, f"{framework}_state")(model)
    path = folder / f"{method}_{framework}.safetensors"
    checkpoint.save(path, state, {"harness": json.dumps(
        {"method": method, "framework": framework, "params": spec.get("params", {})})})
    return path


def timed(command):
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def plain_loop(pairs, images_dir, masks_dir, pred_dir):
    """The reference: one item at a time, scikit-image PSNR and SSIM, numpy L1s."""
    started = time.perf_counter()
    for row in pairs.itertuples():
        pred = read_rgb(pred_dir / f"{row.item}.png").astype(np.float64)
        real = read_rgb(images_dir / f"{row.image_id}.png").astype(np.float64)
        hole = read_mask(masks_dir / f"{row.mask_id}.png")[0] > 0.5
        peak_signal_noise_ratio(real, pred, data_range=1)
        structural_similarity(real, pred, channel_axis=0, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, data_range=1)
        np.abs(pred - real).mean()
        np.abs(pred - real)[:, hole].mean()
    return time.perf_counter() - started


def run_pair(root, method, framework, args):
    """(predict wall s, predict in-process s, score wall s, score in-process s) of one run."""
    out = root / "pred" / f"{method}_{framework}"
    extra = (["--weights", "retrained", "--checkpoint",
              str(initial_checkpoint(method, framework, root))]
             if framework != "numpy" else ["--weights", "none"])
    device = ["--device", args.device] if args.device and framework != "numpy" else []
    predict_wall = timed([sys.executable, "-m", "methods.predict", "--method", method,
                          "--framework", framework, *extra, *device, "--images",
                          str(root / "data"), "--masks", str(root / "masks"), "--pairs",
                          str(root / "pairs.tsv"), "--threads", str(args.threads),
                          "--batch-size", "8", "--gpu-batch-size", "64", "--out", str(out)])
    score_out = root / "score" / f"{method}_{framework}.tsv"
    score_wall = timed([sys.executable, "-m", "metrics.score", "--predictions", str(out),
                        "--images", str(root / "data"), "--masks", str(root / "masks"),
                        "--pairs", str(root / "pairs.tsv"), "--no-download",
                        "--backbone-weights-dir", str(root / "none"),
                        "--threads", str(args.threads), "--out", str(score_out),
                        *(["--device", args.device] if args.device else [])])
    predicted = json.loads((out / "provenance.json").read_text())
    scored = json.loads(score_out.with_suffix(".json").read_text())
    return predict_wall, predicted["seconds"], score_wall, scored["seconds"], predicted["device"]


def stand_in_backbones(root, device, threads):
    """Score with LPIPS and FID in this process on seeded random backbones: time only."""
    import torch

    from metrics import fid_reference, score, weights
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_metrics import random_alexnet_state
    from test_weights import random_fid_inception_state
    folder = root / "backbones"
    folder.mkdir()
    torch.save(random_alexnet_state(1), folder / weights.KNOWN["alexnet"].file)
    torch.save(random_fid_inception_state(2), folder / weights.KNOWN["inception"].file)
    for name in ("alexnet", "inception"):
        weights.KNOWN[name] = weights.KNOWN[name]._replace(
            sha256=weights.sha256_file(folder / weights.KNOWN[name].file))
    pred_dir = next(p for p in sorted((root / "pred").iterdir()))
    options = ["--backbone-weights-dir", str(folder), "--no-download", "--threads",
               str(threads), *(["--device", device] if device else [])]
    started = time.perf_counter()
    fid_reference.main(["--pairs", str(root / "pairs.tsv"), "--images", str(root / "data"),
                        "--out", str(root / "fid"), *options])
    reference = time.perf_counter() - started
    started = time.perf_counter()
    score.main(["--predictions", str(pred_dir), "--images", str(root / "data"), "--masks",
                str(root / "masks"), "--pairs", str(root / "pairs.tsv"), "--fid-reference",
                str(root / "fid"), "--out", str(root / "backbone_score.tsv"), *options])
    return pred_dir.name, reference, time.perf_counter() - started


# The same loop as a stand-alone program, so that its start-up is counted as the CLI's is.
PLAIN_PROGRAM = """
import sys
import numpy as np, pandas as pd
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
pred, images, masks = sys.argv[1:4]
for r in pd.read_csv(f"{pred}/predictions.tsv", sep="\\t", dtype=str).itertuples():
    p = np.asarray(Image.open(f"{pred}/{r.file}"), dtype=np.float64) / 255
    t = np.asarray(Image.open(f"{images}/{r.image_id}.png"), dtype=np.float64) / 255
    h = np.asarray(Image.open(f"{masks}/{r.mask_id}.png")) == 255
    peak_signal_noise_ratio(t, p, data_range=1)
    structural_similarity(t, p, channel_axis=2, gaussian_weights=True, sigma=1.5,
                          use_sample_covariance=False, data_range=1)
    np.abs(p - t).mean(), np.abs(p - t)[h].mean()
"""


def demo_check(threads):
    """The score CLI as a whole process, as the demo's score rule runs it, on the demo's 96
    telea items, against the plain loop in this process and as a whole process."""
    pred = Path("results/predict/demo/demo_irregular/telea/numpy/none")
    if not (pred / "predictions.tsv").is_file():
        print("--demo: build the demo first (snakemake --cores 2 reports/demo.html)")
        return
    pairs = pd.read_csv(pred / "predictions.tsv", sep="\t", dtype=str)
    images, masks = Path("results/data/demo/test"), Path("results/masks/demo_irregular")
    with tempfile.TemporaryDirectory() as tmp:
        wall = min(timed([sys.executable, "-m", "metrics.score", "--predictions", str(pred),
                          "--images", str(images), "--masks", str(masks), "--no-download",
                          "--backbone-weights-dir", tmp, "--threads", str(threads),
                          "--out", f"{tmp}/s.tsv"]) for _ in range(3))
    loop = min(plain_loop(pairs, images, masks, pred) for _ in range(3))
    program = min(timed([sys.executable, "-c", PLAIN_PROGRAM, str(pred), str(images),
                         str(masks)]) for _ in range(3))
    print(f"demo, {len(pairs)} telea items, best of 3: score CLI (whole process, {threads} "
          f"thread(s)) {wall:.2f} s; plain scikit-image loop {loop:.2f} s in process, "
          f"{program:.2f} s as a whole process; CLI / loop {wall / loop:.2f} (in process), "
          f"{wall / program:.2f} (whole process)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default=None, help="default: each CLI's default")
    parser.add_argument("--methods", nargs="+", default=None, help="default: all")
    parser.add_argument("--stand-in-backbones", action="store_true")
    parser.add_argument("--demo", action="store_true")
    args = parser.parse_args(argv)
    if args.demo:
        demo_check(args.threads)
        return
    specs = methods.discover()
    chosen = args.methods or list(specs)
    with tempfile.TemporaryDirectory(prefix="eval-speed-") as tmp:
        root = Path(tmp)
        workspace(root, args.items)
        pairs = pd.read_csv(root / "pairs.tsv", sep="\t", dtype=str)
        print(f"{len(pairs)} items of {SIZE} px, {args.threads} I/O threads; items/s from wall "
              "time (whole process) and, in brackets, from the CLI's own record")
        print(f"{'method / framework':28} {'device':10} {'predict':>16} {'score':>16} "
              f"{'both':>8} {'plain loop':>10}")
        for method in chosen:
            for framework in specs[method]["frameworks"]:
                pw, pi, sw, si, device = run_pair(root, method, framework, args)
                loop = plain_loop(pairs, root / "data", root / "masks",
                                  root / "pred" / f"{method}_{framework}")
                n = len(pairs)
                print(f"{method + ' / ' + framework:28} {device[:10]:10} "
                      f"{n / pw:7.1f} [{n / pi:6.1f}] {n / sw:7.1f} [{n / si:6.1f}] "
                      f"{n / (pw + sw):8.1f} {n / loop:10.1f}")
        if args.stand_in_backbones:
            name, reference, seconds = stand_in_backbones(root, args.device, args.threads)
            print(f"score with LPIPS + FID (stand-in backbones, values meaningless) of {name}: "
                  f"{len(pairs) / seconds:.1f} items/s in process; FID reference "
                  f"{reference:.1f} s")


if __name__ == "__main__":
    main()
