"""Import a method's released weights into the harness's neutral checkpoint.

    python -m methods.import_weights --method deepfill_v1 --dataset places2 \
        --dir /data/released --out results/published/places2/deepfill_v1/weights.safetensors

methods/<id>/published.yaml lists the releases a method can import, one per dataset it was
trained on: the files (paths under --dir, the workflow's `published_weights_dir`), where to get
them, the sha256 of each file its publisher pinned, and how its training differs from the
harness's protocol. Every file is checked against its sha256 before it is read; the method's
published.py maps the released tensors exactly onto the harness's network (torch names) or
refuses them. The checkpoint's metadata names the release, its files with their sha256 and
the model params, so predict builds the network the weights fit and a report can cite them.
Released weights are never trained: the same file is scored by both ports.
"""
import argparse
import importlib
import json
import logging
from pathlib import Path

import methods
from datasets.io import sha256_file
from methods import checkpoint

log = logging.getLogger(__name__)

# an entry of methods/<id>/published.yaml
RELEASE = {"dataset": str, "source": str, "name": str, "url": str, "files": list,
           "sha256": dict, "trained_on": str, "differences": list}


def check_release(entry, where):
    methods.check_entry(entry, RELEASE, where)
    unknown = sorted(set(entry["sha256"]) - set(entry["files"]))
    if unknown or not entry["sha256"]:
        raise ValueError(f"{where}: sha256 must pin at least one of its files, and only "
                         f"them (not {unknown})")


def load_releases(method_id, methods_dir=Path(__file__).parent):
    """The releases a method can import ([] without a published.yaml), validated."""
    path = Path(methods_dir) / method_id / "published.yaml"
    entries = methods.load_list(path, "releases", check_release)
    datasets = [e["dataset"] for e in entries]
    if len(set(datasets)) != len(datasets):
        raise ValueError(f"{path}: one release per dataset, found {datasets}")
    return entries


def release_for(method_id, dataset, methods_dir=Path(__file__).parent):
    """The method's release trained on `dataset`, or None."""
    return next((e for e in load_releases(method_id, methods_dir) if e["dataset"] == dataset),
                None)


def provided(method_id, dataset, folder):
    """True when every file of the method's release for `dataset` is in folder."""
    release = release_for(method_id, dataset)
    return (folder is not None and release is not None
            and all((Path(folder) / f).is_file() for f in release["files"]))


def verified_files(release, folder):
    """{file: sha256} of the release's files in folder; a missing file or one whose sha256 is
    not the pinned one is refused, naming it and where the right one comes from."""
    digests = {}
    for name in release["files"]:
        path = Path(folder) / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; {release['name']} comes from "
                                    f"{release['url']}")
        digests[name] = sha256_file(path)
        expected = release["sha256"].get(name)
        if expected is not None and digests[name] != expected:
            raise ValueError(f"{path}: sha256 {digests[name]}, but {release['name']} has "
                             f"{expected}: not the released file (get it from {release['url']})")
    return digests


def import_release(method_id, dataset, folder):
    """(neutral state, metadata) of the method's release for `dataset` in folder."""
    release = release_for(method_id, dataset)
    if release is None:
        raise ValueError(f"methods/{method_id}/published.yaml lists no release trained on "
                         f"{dataset}")
    digests = verified_files(release, folder)
    module = importlib.import_module(f"methods.{method_id}.published")
    state, params = module.load(release["source"], [Path(folder) / f for f in release["files"]])
    origin = {"name": release["name"], "url": release["url"], "source": release["source"],
              "files": digests}
    metadata = {"harness": json.dumps({"method": method_id, "weights": "published",
                                       "params": params, "origin": origin}, sort_keys=True)}
    return state, metadata


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--dataset", required=True, help="the dataset the release was trained on")
    parser.add_argument("--dir", required=True, help="folder of released files "
                        "(configs/config.yaml published_weights_dir)")
    parser.add_argument("--out", required=True, help="the neutral checkpoint to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    state, metadata = import_release(args.method, args.dataset, args.dir)
    checkpoint.save(Path(args.out), state, metadata)
    origin = json.loads(metadata["harness"])["origin"]
    log.info("%s: %s, %d tensors, from %s", args.out, origin["name"], len(state),
             ", ".join(f"{f} (sha256 {d[:12]})" for f, d in origin["files"].items()))


if __name__ == "__main__":
    main()
