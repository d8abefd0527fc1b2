"""Prepare stage: build results/data/{dataset}/ (train/ store, test/ PNGs, manifests, dataset.json).

    python -m datasets.prepare --dataset demo --out results/data/demo
    python -m datasets.prepare --dataset celebahq --root data/celebahq --resolution 256 \
        [--allow-subset] [--split official|interleaved] [--workers 2] --out results/data/celebahq

Each dataset is a folder datasets/<name>/ whose prepare.py holds RESOLUTION, WHERE (how to
obtain it), LAYOUT (the folder layout expected), SPLIT (the official split, in words),
EXPECTED (images per official split) and list_images(root) -> [(id, path, official split)];
the embedded demo holds splits() -> {split: [(id, uint8 image, extra manifest columns)]}.
Storage is described in datasets/store.py; TRAIN_FILES ("png" or "source") says whether the
training split gets PNG copies or reads the sources in place. Every image is decoded before
anything is kept: a corrupt or truncated file is named in the error, and the dataset is written
to a staging folder that replaces results/data/<name> only when every image was written.
"""
import argparse
import contextlib
import importlib
import json
import logging
import multiprocessing
import os
import shutil
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from datasets import store
from datasets.io import CROP_RULE, atomic_write_text, decode_source, sha256_bytes

log = logging.getLogger(__name__)
EMBEDDED = ("demo",)
SPLITS = ("official", "interleaved")
INTERLEAVE = 10  # split "interleaved": every 10th image of a subset, in id order, is a test image
RESOLUTIONS = (256, 512)


class DatasetMissing(RuntimeError):
    pass


class DatasetError(RuntimeError):
    pass


def recipe(name):
    return importlib.import_module(f"datasets.{name}.prepare")


def settings(name, config):
    """One dataset's settings: configs/config.yaml `datasets.<name>` over the defaults (root
    {data_root}/<name> or $INPAINT_DATA_ROOT/<name>, the recipe's resolution, the full dataset,
    the official split)."""
    given = dict(config.get("datasets", {}).get(name) or {})
    where = f"configs/config.yaml datasets.{name}"
    if name in EMBEDDED and given:
        raise ValueError(f"{where}: the embedded '{name}' dataset takes no settings")
    parent = Path(os.environ.get("INPAINT_DATA_ROOT") or config.get("data_root", "data"))
    resolved = {"root": str(parent / name), "resolution": recipe(name).RESOLUTION,
                "allow_subset": False, "split": "official"}
    resolved.update({k: v for k, v in given.items() if v is not None})
    if name not in EMBEDDED and resolved["resolution"] not in RESOLUTIONS:
        raise ValueError(f"{where}: resolution must be one of {RESOLUTIONS}")
    if resolved["split"] == "interleaved" and not resolved["allow_subset"]:
        raise ValueError(f"{where}: split 'interleaved' is for subsets only; set "
                         "allow_subset: true, or use the official split")
    return resolved


def require(name, config):
    """Raise DatasetMissing, with where to get the data and the layout to create, unless the
    dataset's folder exists. Called by the workflow before any job runs (fail fast)."""
    if name in EMBEDDED:
        return None
    module, root = recipe(name), Path(settings(name, config)["root"])
    if not root.is_dir():
        raise DatasetMissing(
            f"dataset '{name}' not found: expected the folder {root.resolve()}. "
            f"{module.WHERE} Create this layout there:\n{module.LAYOUT}\n"
            f"Then point configs/config.yaml at it: datasets.{name}.root, or data_root (or "
            f"$INPAINT_DATA_ROOT) naming the folder that holds '{name}/'. "
            f"See datasets/{name}/README.md.")
    return root


def read_list(path, fields, example, name):
    """The rows of a dataset's list file, each split into `fields` whitespace-separated fields;
    a missing file or a malformed line is a DatasetError naming the file."""
    if not Path(path).is_file():
        raise DatasetError(
            f"{path} is missing. Dataset '{name}' needs it (it ships with the dataset: "
            f"{recipe(name).WHERE}); expected layout:\n{recipe(name).LAYOUT}\n"
            f"See datasets/{name}/README.md.")
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            parts = line.split()
            if len(parts) != fields:
                raise DatasetError(f"{path}, line {number}: expected lines like {example!r}, "
                                   f"found {line!r}; is this the file the recipe names?")
            rows.append(parts)
    return rows


def require_folder(path, name):
    if not Path(path).is_dir():
        raise DatasetError(f"{path} is missing: dataset '{name}' expects this layout:\n"
                           f"{recipe(name).LAYOUT}\nSee datasets/{name}/README.md.")
    return Path(path)


def select(name, root, options):
    """{split: [(id, path)]} for train and test, after checking the counts against the recipe."""
    module = recipe(name)
    found = module.list_images(root)
    counts = Counter(split for _, _, split in found)
    expected = sum(module.EXPECTED.values())
    if len(found) > expected:
        raise DatasetError(f"{root}: {len(found):,} images, more than the {expected:,} the "
                           f"recipe expects ({dict(counts)} found, {module.EXPECTED} expected); "
                           f"see datasets/{name}/README.md for the layout")
    if len(found) == expected and dict(counts) != module.EXPECTED:
        # a complete dataset is kept; the published per-split sizes are logged as a mismatch
        log.warning("%s: split sizes %s differ from the recipe's %s; dataset.json records "
                    "the sizes used", root, dict(counts), module.EXPECTED)
    if len(found) < expected and not options["allow_subset"]:
        raise DatasetError(
            f"{root}: found {len(found):,} of the {expected:,} images dataset '{name}' holds "
            f"({dict(counts)} found, {module.EXPECTED} expected per split). Complete the "
            f"download: {module.WHERE} Or, to run on this subset knowingly, set "
            f"datasets.{name}.allow_subset: true in configs/config.yaml; the report then says "
            f"'subset: {len(found):,} of {expected:,}'.")
    chosen, interleaved = {"train": [], "test": []}, options["split"] == "interleaved"
    for k, (image_id, path, official) in enumerate(sorted(found) if interleaved else found):
        split = (official if not interleaved else
                 "test" if k % INTERLEAVE == INTERLEAVE - 1 else "train")
        if split in chosen:
            chosen[split].append((image_id, path))
    for split, items in chosen.items():
        if not items:
            raise DatasetError(
                f"{root}: the {options['split']} split leaves no {split} image among the "
                f"{len(found):,} found. A subset may miss a whole official split; "
                f"datasets.{name}.split: interleaved puts every {INTERLEAVE}th image in the "
                "test split instead (the report says so).")
    return chosen, len(found), expected


def decode_task(task):
    path, size = task
    data = Path(path).read_bytes()
    try:
        return decode_source(data, size), sha256_bytes(data), None
    except (OSError, ValueError) as err:  # Pillow: truncated, unidentified, corrupt data
        return None, sha256_bytes(data), str(err)


def decoded(items, root, size, workers, failures):
    """(id, uint8 image, manifest columns) of each readable item, in order; unreadable files
    are appended to failures (so one pass names all of them)."""
    tasks = ((path, size) for _, path in items)
    with multiprocessing.Pool(workers) if workers > 1 else contextlib.nullcontext() as pool:
        results = (pool.imap(decode_task, tasks, chunksize=16) if pool is not None
                   else map(decode_task, tasks))
        for (image_id, path), (pixels, sha, error) in zip(items, results):
            if error is not None:
                failures.append(f"{path}: {error}")
                continue
            yield image_id, pixels, dict(source=str(Path(path).relative_to(root)),
                                         source_sha256=sha)


def write_split(folder, split, entries, count, name, files):
    """Write one split (see datasets/store.py); entries yield (id, uint8 image, columns). A
    training split of files "source" keeps no pixels: its rows name the source files."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for image_id, pixels, columns in tqdm(entries, total=count, desc=f"{name} {split}",
                                          mininterval=5):
        if split == "train" and files == "source":
            row = dict(id=image_id, file=columns["source"], sha256=columns["source_sha256"])
        else:
            file, sha = store.write_test_image(folder, image_id, pixels)
            row = dict(id=image_id, file=file, sha256=sha, **columns)
        rows.append({**row, **(store.pixel_sums(pixels) if split == "train" else {})})
    return rows


def prepare(name, root, out, options, workers=1):
    """Build out/ (train/, test/, dataset.json) atomically; return dataset.json's content."""
    out, module = Path(out), recipe(name)
    size = options["resolution"]
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    failures, counts = [], {}
    files = "png" if name in EMBEDDED else module.TRAIN_FILES
    try:
        if name in EMBEDDED:
            found = expected = None
            splits = {s: (entries, len(entries)) for s, entries in module.splits().items()}
        else:
            chosen, found, expected = select(name, Path(root), options)
            splits = {s: (decoded(items, Path(root), size, workers, failures), len(items))
                      for s, items in chosen.items()}
        for split, (entries, count) in splits.items():
            rows = write_split(staging / split, split, entries, count, name, files)
            if not failures:
                store.write_manifest(staging / split, rows)
            if split == "train":
                store.write_train_layout(staging / split, files, size,
                                         root if files == "source" else None)
            counts[split] = len(rows)
        if failures:
            raise DatasetError(
                f"{len(failures)} image(s) under {root} cannot be decoded (corrupt or "
                "truncated, often an interrupted download or extraction); nothing was written "
                f"to {out}. Replace them from the original archive and run again. "
                f"{module.WHERE}\n  " + "\n  ".join(failures[:20])
                + (f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""))
        record = describe(name, root, options, counts, found, expected)
        atomic_write_text(staging / "dataset.json", json.dumps(record, indent=1) + "\n")
        replace(staging, out)
        return record
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def describe(name, root, options, counts, found, expected):
    """dataset.json: what the report states about the data behind its tables."""
    module = recipe(name)
    split = (module.SPLIT if options["split"] == "official" else
             f"NOT the official split: every {INTERLEAVE}th image of the subset, in id order, "
             f"is a test image and the others train (split: interleaved, for subsets). "
             f"The official split: {module.SPLIT}")
    return {"dataset": name, "root": None if root is None else str(Path(root).resolve()),
            "resolution": options["resolution"],
            "crop": module.CROP if name in EMBEDDED else CROP_RULE.format(
                size=options["resolution"]),
            "split": split, "counts": counts, "found": found, "expected": expected,
            "subset": None if found is None or found >= expected else
            f"subset: {found:,} of {expected:,} images"}


def replace(staging, out):
    """Move the finished staging folder to out, replacing what was there."""
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--root", help="the dataset's folder (real datasets)")
    parser.add_argument("--resolution", type=int)
    parser.add_argument("--allow-subset", action="store_true")
    parser.add_argument("--split", choices=SPLITS, default="official")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", required=True, help="results/data/<dataset>")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    given = {"root": args.root, "resolution": args.resolution,
             "allow_subset": args.allow_subset or None, "split": args.split}
    config = {"datasets": {args.dataset: {k: v for k, v in given.items()
                                          if v is not None and args.dataset not in EMBEDDED}}}
    try:
        options = settings(args.dataset, config)
        root = require(args.dataset, config)
        record = prepare(args.dataset, root, args.out, options, args.workers)
    except (DatasetMissing, DatasetError, ValueError) as err:
        raise SystemExit(str(err))
    log.info("prepared %s: %s", args.dataset, json.dumps(record))


if __name__ == "__main__":
    main()
