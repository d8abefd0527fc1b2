"""Reading the report's inputs: score paths (the path grammar), score tables, method specs,
predictions, and the images and masks behind the qualitative grid."""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

import methods
from datasets.io import sha256_file

KIND_ORDER = ["control", "classical", "learned"]  # floor and ceiling first, then the methods
SCORE_COLUMNS = ["item", "image_id", "mask_id", "bucket", "hole_ratio", "metric", "value",
                 "status"]
PAIRING = ["item", "image_id", "mask_id"]
_IDS = {"item": str, "image_id": str, "mask_id": str, "bucket": str, "status": str, "id": str,
        "file": str}


@dataclass(frozen=True)
class Run:
    """One score table: results/score/{dataset}/{mask_set}/{method}/{framework}/{weights}.tsv"""
    root: Path  # the folder holding score/, predict/, data/ and masks/
    dataset: str
    mask_set: str
    method: str
    framework: str
    weights: str
    path: Path

    @property
    def label(self) -> str:
        return f"{self.method} / {self.framework} / {self.weights}"

    @property
    def predictions(self) -> Path:
        return (self.root / "predict" / self.dataset / self.mask_set / self.method
                / self.framework / self.weights / "predictions.tsv")

    @property
    def provenance(self) -> Path:
        return self.path.with_suffix(".json")

    @property
    def resolved(self) -> Path:
        """resolved.yaml of the training run behind retrained weights."""
        return (self.root / "train" / self.dataset / self.method / self.framework
                / "resolved.yaml")


def inference_options(run: Run, spec: dict) -> dict:
    """The inference options a prediction run used (its provenance.json), for methods whose
    spec.yaml has any; {} for the others."""
    if not spec.get("inference"):
        return {}
    path = run.predictions.parent / "provenance.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the prediction record of {run.label} is missing")
    return dict(json.loads(path.read_text()).get("inference", {}))


def training_deviations(run: Run) -> list[str]:
    """Deviations a training run recorded (e.g. loss terms switched off), for retrained runs."""
    if run.weights != "retrained":
        return []
    if not run.resolved.is_file():
        raise FileNotFoundError(f"{run.resolved}: the training record of {run.label} is missing")
    resolved = yaml.safe_load(run.resolved.read_text())
    return list(resolved.get("deviations", []))


def parse_score_path(path) -> Run:
    """Read the grammar right to left, so any prefix before score/ is the results root."""
    path = Path(path)
    parts = path.parts
    if len(parts) < 6 or parts[-6] != "score" or path.suffix != ".tsv":
        raise ValueError(f"{path}: expected .../score/{{dataset}}/{{mask_set}}/{{method}}/"
                         "{framework}/{weights}.tsv")
    root = Path(*parts[:-6]) if len(parts) > 6 else Path(".")
    return Run(root, parts[-5], parts[-4], parts[-3], parts[-2], path.stem, path)


def read_tsv(path: Path) -> pd.DataFrame:
    """TSV with identifier columns kept as strings (ids like '0007' must not become 7)."""
    return pd.read_csv(path, sep="\t", dtype=_IDS)


def load_specs(methods_dir: Path, method_ids) -> dict[str, dict]:
    specs = {}
    for method in sorted(method_ids):
        path = Path(methods_dir) / method / "spec.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"no method spec {path} for scored method '{method}'")
        spec = yaml.safe_load(path.read_text())
        if spec.get("kind") not in KIND_ORDER:
            raise ValueError(f"{path}: kind must be one of {KIND_ORDER}, got {spec.get('kind')}")
        specs[method] = {**spec, "reported": methods.load_reported(path.parent)}
    return specs


def check_table(run: Run) -> None:
    """Refuse a score table that is not the one the score stage recorded in its {weights}.json
    (table_sha256): a table edited by hand is never reported as measured."""
    if not run.provenance.is_file():
        return
    recorded = json.loads(run.provenance.read_text()).get("table_sha256")
    found = sha256_file(run.path)
    if recorded is not None and found != recorded:
        raise ValueError(f"{run.path} is not the table metrics.score wrote ({run.provenance} "
                         f"records sha256 {recorded[:16]}..., the file has {found[:16]}...): "
                         "delete it and run the workflow again to score anew")


def load_scores(runs: list[Run], specs: dict[str, dict]) -> pd.DataFrame:
    frames = []
    for run in runs:
        check_table(run)
        frame = read_tsv(run.path)
        missing = set(SCORE_COLUMNS) - set(frame.columns)
        if missing:
            raise ValueError(f"{run.path}: missing columns {sorted(missing)}")
        frame = frame[SCORE_COLUMNS].assign(
            mask_set=run.mask_set, method=run.method, framework=run.framework,
            weights=run.weights, kind=specs[run.method]["kind"])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def check_runs(runs: list[Run], experiment: dict, name: str) -> None:
    """Every score belongs to this experiment and lives under one results root."""
    roots = {run.root for run in runs}
    if len(roots) != 1:
        raise ValueError(f"scores come from several results roots: {sorted(map(str, roots))}")
    for run in runs:
        if run.dataset != experiment["dataset"]:
            raise ValueError(f"{run.path}: dataset '{run.dataset}' is not experiment "
                             f"'{name}' dataset '{experiment['dataset']}'")
        if run.mask_set not in experiment["mask_sets"]:
            raise ValueError(f"{run.path}: mask set '{run.mask_set}' not in experiment "
                             f"'{name}' mask_sets {experiment['mask_sets']}")


def load_predictions(runs: list[Run]) -> list[pd.DataFrame]:
    """predictions.tsv of each run (sorted by item), checked to pair the same image with the
    same mask at the same item for every run: otherwise a grid row (and the comparison) lies."""
    tables = [read_tsv(run.predictions).sort_values("item", kind="stable")
              .reset_index(drop=True) for run in runs]
    for run, table in zip(runs[1:], tables[1:]):
        if not table[PAIRING].equals(tables[0][PAIRING]):
            raise ValueError(f"predictions pairing differs between {runs[0].predictions} and "
                             f"{run.predictions}: the (item, image_id, mask_id) rows must be "
                             "identical for every method of an experiment")
    return tables


def pick_items(pairing: pd.DataFrame, order: list[str], limit: int = 6) -> pd.DataFrame:
    """Deterministic grid rows: row r takes bucket r mod B (in bucket order) and, within it,
    the item at position r. Every bucket sees the same images in the same order (the pairing
    rule), so the diagonal shows a different image per row; a one-bucket set (the centre box)
    simply gets its first items."""
    groups = [pairing[pairing["bucket"] == bucket] for bucket in order]
    groups = [group for group in groups if len(group)]
    picks = []
    for row in range(min(limit, len(pairing))):
        group = groups[row % len(groups)]
        picks.append(group.iloc[row % len(group)])
    return pd.DataFrame(picks).drop_duplicates("item")


def id_files(manifest: Path) -> dict[str, Path]:
    """id -> file path from a data or mask manifest.tsv."""
    table = read_tsv(manifest)
    return {row.id: manifest.parent / row.file for row in table.itertuples()}


def load_rgb(path: Path) -> np.ndarray:
    """8-bit RGB image as uint8 HxWx3."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def load_hole(path: Path) -> np.ndarray:
    """Greyscale mask PNG (255 = hole) as a boolean HxW, True = hole."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L")) > 127
