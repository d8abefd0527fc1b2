"""Prepare stage: build results/data/{dataset}/{train,test}/ with a manifest.tsv per split.

    python -m datasets.prepare --dataset demo --out results/data/demo [--data-root data]

Each dataset is a folder datasets/<name>/ whose prepare.py holds RESOLUTION, WHERE (how to
obtain it), LAYOUT (the folder layout expected under {data_root}/<name>) and prepare(root, out).
The real datasets' root is {data_root}/<name>, data_root from the config or $INPAINT_DATA_ROOT.
"""
import argparse
import importlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)
EMBEDDED = ("demo",)


class DatasetMissing(RuntimeError):
    pass


def recipe(name):
    return importlib.import_module(f"datasets.{name}.prepare")


def dataset_root(name, data_root):
    """Where a real dataset must be: $INPAINT_DATA_ROOT/<name>, else <data_root>/<name>."""
    return Path(os.environ.get("INPAINT_DATA_ROOT") or data_root) / name


def require(name, data_root):
    """Raise DatasetMissing, with where to get the data and the layout to create, unless the
    dataset can be prepared. Called by the workflow before any job runs (fail fast)."""
    if name in EMBEDDED:
        return None
    module, root = recipe(name), dataset_root(name, data_root)
    if not root.is_dir():
        raise DatasetMissing(
            f"dataset '{name}' not found: expected the folder {root.resolve()}. "
            f"{module.WHERE} Create this layout under {root}:\n{module.LAYOUT}\n"
            f"Point data_root in configs/config.yaml (or $INPAINT_DATA_ROOT) at the folder "
            f"holding '{name}/'. See datasets/{name}/README.md.")
    if not hasattr(module, "prepare"):
        raise DatasetMissing(
            f"dataset '{name}' was found at {root}, but its preparation (decoding, cropping to "
            f"{module.RESOLUTION}x{module.RESOLUTION}, the official split) is not implemented "
            "yet: it lands with the real-datasets issue (#6). Only the 'demo' experiment runs "
            "today.")
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--out", required=True, help="results/data/<dataset>")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        root = require(args.dataset, args.data_root)
    except DatasetMissing as err:
        raise SystemExit(str(err))
    counts = recipe(args.dataset).prepare(root, Path(args.out))
    log.info("prepared %s: %s", args.dataset, counts)


if __name__ == "__main__":
    main()
