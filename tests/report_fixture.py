"""A fabricated results tree for the report tests (tiny 8x8 PNGs): two mask sets, a control
that sees the ground truth, a baseline, a classical method, one learned method in two
frameworks with identical outputs, and a learned method whose outputs are the first one's
shifted by a constant (SHIFT), with their specs, training records and logs."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from reports import inputs


SAMPLES = 200
BUCKETS = {"irr": ["(0.01,0.1]", "(0.01,0.1]", "(0.01,0.1]", "(0.1,0.2]", "(0.1,0.2]",
                   "(0.1,0.2]"],
           "box": ["(0.2,0.3]"] * 4}
HOLE_PIXELS = {"(0.01,0.1]": 4, "(0.1,0.2]": 10, "(0.2,0.3]": 16}
RUNS = [("oracle", "numpy", "none", "control"), ("mean_fill", "numpy", "none", "classical"),
        ("telea", "numpy", "none", "classical"), ("toynet", "torch", "retrained", "learned"),
        ("toynet", "paddle", "retrained", "learned"), ("shifted", "torch", "retrained", "learned")]
# a published figure of toynet on the fixture's box masks (reports/published.py)
REPORTED = {"source": "Toy et al., Table 9", "dataset": "demo", "masks": "box", "resolution": 8,
            "test_set": "their own demo split", "values": {"psnr": 21.5, "l1_hole": 12.34},
            "differences": ["Their boxes are drawn at random on every run."]}
# shifted = toynet + SHIFT (worse in every metric), item by item
SHIFT = {"psnr": -1.0, "ssim": -0.02, "l1": 0.01, "l1_hole": 0.02}
REASON = ("unavailable: weights missing (alexnet-owt-7be5be79.pth not in torch hub cache or "
          "backbone_weights_dir; download failed: offline)")


def png(path: Path, array: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path.name


def fabricated(method: str, mask_set: str, metric: str, framework: str = "torch") -> np.ndarray:
    """Fabricated raw scores; the oracle is perfect, toynet has one identical image (so shifted
    has it too: inf - 1 is inf); toynet's paddle run is its torch run plus seeded noise of
    about 2% of the value, so the two ports differ a little, item by item."""
    if method == "shifted":
        return fabricated("toynet", mask_set, metric) + SHIFT[metric]
    if framework == "paddle":
        torch = fabricated(method, mask_set, metric)
        noise = np.random.default_rng([7, len(mask_set), len(metric)]).normal(0, 0.02, len(torch))
        return torch * (1 + noise)
    n = len(BUCKETS[mask_set])
    rng = np.random.default_rng([len(method), len(mask_set), len(metric)])
    if method == "oracle":
        return np.full(n, {"psnr": np.inf, "ssim": 1.0}.get(metric, 0.0))
    values = {"psnr": rng.uniform(15, 30, n), "ssim": rng.uniform(0.5, 0.9, n),
              "l1": rng.uniform(0.01, 0.05, n), "l1_hole": rng.uniform(0.1, 0.3, n)}[metric]
    if method == "toynet" and metric == "psnr":
        values[0] = np.inf
    return values


def write_data(root: Path) -> None:
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(4)]
    folder = root / "data" / "demo" / "test"
    files = [png(folder / f"img{i}.png", image) for i, image in enumerate(images)]
    pd.DataFrame({"id": [f"img{i}" for i in range(4)], "file": files}).to_csv(
        folder / "manifest.tsv", sep="\t", index=False)
    for mask_set, buckets in BUCKETS.items():
        folder = root / "masks" / mask_set
        rows = []
        for i, bucket in enumerate(buckets):
            hole = np.zeros(64, np.uint8)
            hole[:HOLE_PIXELS[bucket]] = 255
            rows.append({"id": f"m{i}", "file": png(folder / f"m{i}.png", hole.reshape(8, 8)),
                         "hole_ratio": HOLE_PIXELS[bucket] / 64, "bucket": bucket})
        pd.DataFrame(rows).to_csv(folder / "manifest.tsv", sep="\t", index=False)


def write_run(root: Path, mask_set: str, method: str, framework: str, weights: str) -> Path:
    buckets = BUCKETS[mask_set]
    items = pd.DataFrame({"item": range(len(buckets)),
                          "image_id": [f"img{i % 4}" for i in range(len(buckets))],
                          "mask_id": [f"m{i}" for i in range(len(buckets))], "bucket": buckets,
                          "hole_ratio": [HOLE_PIXELS[b] / 64 for b in buckets]})
    folder = root / "predict" / "demo" / mask_set / method / framework / weights
    shade = {"oracle": 0, "mean_fill": 128, "telea": 64, "toynet": 200, "shifted": 220}[method]
    files = [png(folder / f"{i}.png", np.full((8, 8, 3), shade, np.uint8)) for i in items.item]
    items.assign(file=files, sha256="x").to_csv(folder / "predictions.tsv", sep="\t", index=False)
    if method == "toynet":  # the only method with an inference option (spec below)
        (folder / "provenance.json").write_text(json.dumps({"inference": {"smooth": True}}))
    rows = [items.assign(metric=m, value=fabricated(method, mask_set, m, framework),
                         status="ok")
            for m in ["psnr", "ssim", "l1", "l1_hole"]]
    rows.append(items.assign(metric="lpips", value=np.nan, status=REASON))
    fid = pd.DataFrame({"bucket": [*sorted(set(buckets)), "all"], "metric": "fid", "status": "ok"})
    rows.append(fid.assign(value=[40.0 + 10 * i for i in range(len(fid) - 1)] + [99.0],
                           hole_ratio=np.nan))  # per bucket, then the whole set's ('all')
    path = root / "score" / "demo" / mask_set / method / framework / f"{weights}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(rows)[inputs.SCORE_COLUMNS].to_csv(path, sep="\t", index=False)
    return path


def write_training(folder: Path, method: str, framework: str) -> None:
    """resolved.yaml, weights and a 12-step log.jsonl (two stages; paddle's loss a little
    above torch's, so the two curves differ)."""
    folder.mkdir(parents=True)
    deviations = ["trained without the style term"] if method == "toynet" else []
    (folder / "resolved.yaml").write_text(yaml.safe_dump(
        {"deviations": deviations, "seed": 0, "device": "cpu", "training": {"steps": 12}}))
    (folder / "weights.safetensors").write_bytes(f"{method} {framework}".encode())
    offset = 0.05 if framework == "paddle" else 0.0
    (folder / "log.jsonl").write_text("".join(json.dumps(
        {"step": step, "stage": 1 + step // 8, "loss": 1.0 / (1 + step) + offset,
         "hole": 0.5 / (1 + step)}) + "\n" for step in range(12)))


def build_fixture(base: Path) -> dict:
    root = base / "results"
    write_data(root)
    scores = [write_run(root, ms, m, f, w) for ms in BUCKETS for m, f, w, _ in RUNS]
    scores[0].with_suffix(".json").write_text(json.dumps(
        {"date_utc": "2025-01-01T00:01:00+00:00", "host": "box", "seconds": 1.5,
         "alexnet": REASON, "inception": {"path": "/x/pt_inception.pth", "sha256": "ab12"}}))
    for method, framework, weights, _ in RUNS:
        if weights == "retrained":
            write_training(root / "train" / "demo" / method / framework, method, framework)
    for method, kind in dict.fromkeys((m, k) for m, _, _, k in RUNS):
        spec = {"id": method, "title": f"The {method} method", "kind": kind,
                "deviations": [f"{method} deviation one"],
                "sees_ground_truth": method == "oracle",
                **({"inference": {"smooth": False}} if method == "toynet" else {})}
        (base / "methods" / method).mkdir(parents=True)
        (base / "methods" / method / "spec.yaml").write_text(yaml.safe_dump(spec))
        if method == "toynet":
            (base / "methods" / method / "reported.yaml").write_text(yaml.safe_dump([REPORTED]))
    (base / "config.yaml").write_text(yaml.safe_dump(
        {"seed": 0, "bootstrap_samples": SAMPLES,
         "experiments": {"demo": {"dataset": "demo", "mask_sets": ["irr", "box"],
                                  "methods": [r[0] for r in RUNS]}}}))
    (root / "data" / "demo" / "dataset.json").write_text(json.dumps(
        {"dataset": "demo", "resolution": 8, "crop": "as fabricated", "counts": {"test": 2},
         "split": "NOT the official split: fabricated", "subset": "subset: 2 of 30,000 images"}))
    (base / "mask_sets.yaml").write_text(yaml.safe_dump(
        {"irr": {"kind": "irregular", "resolution": 8, "per_bucket": 3, "seed": 1},
         "box": {"kind": "box", "resolution": 8, "box": 4}}))
    argv = ["--experiment", "demo", "--config", str(base / "config.yaml"), "--mask-sets",
            str(base / "mask_sets.yaml"), "--methods-dir", str(base / "methods"),
            "--out", str(base / "reports" / "demo.html"), "--scores", *map(str, scores)]
    return {"base": base, "argv": argv, "scores": scores}


