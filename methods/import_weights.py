"""Import a method's released weights into the harness's neutral checkpoint.

    python -m methods.import_weights --method deepfill_v1 --dataset places2 \
        --source tf_release --dir /data/released \
        --out results/published/places2/deepfill_v1/tf_release/weights.safetensors

methods/<id>/published.yaml lists the releases a method can import: for each, the dataset it
was trained on, a source name (one release per dataset and source), the files (paths under
--dir, the workflow's `published_weights_dir`), where to get them, the digest its publisher
gave for each (a sha256, the leading hex digits of one that mmagic puts in its file names, or
an md5 or sha1; or why there is none), the architecture it expects and how its training
differs from the harness's protocol. Every file is checked against its pin before it is read;
the method's published.py maps the released tensors exactly onto the harness's network (torch
names), or recognises the release's layout and the import refuses it with the entry's
`refused` reason (an architecture the harness's ports do not compute). The checkpoint's
metadata names the release, its files with their sha256 and the model params, so predict
builds the network the weights fit and a report can cite them. Released weights are never
trained: the same file is scored by both ports, as the run {weights} = published-<source>.
"""
import argparse
import importlib
import json
import logging
import re
from pathlib import Path

import methods
from datasets.io import file_digests
from methods import checkpoint

log = logging.getLogger(__name__)

# an entry of methods/<id>/published.yaml; `refused` (optional) says why it is not imported,
# `unpinned` why its files have no published digest (then `pins` is empty)
RELEASE = {"dataset": str, "source": str, "name": str, "url": str, "files": list,
           "pins": dict, "architecture": str, "trained_on": str, "differences": list}
OPTIONAL = {"refused": str, "unpinned": str}
VARIANT = "published-"  # {weights} of a release's runs: published-<source>
SOURCE_NAME = re.compile(r"[a-z0-9_]+")
# A pin is "<algorithm>:<hex digest>", the digest its publisher gave: a sha256, or its first 8
# or more digits (mmagic's file names carry 8: 32 bits tell a wrong or damaged file, not a
# forged one), or the md5 / sha1 an older release script checks (GLCIC's download_model.sh).
PIN = re.compile(r"(sha256:[0-9a-f]{8,64}|sha1:[0-9a-f]{40}|md5:[0-9a-f]{32})")


def check_release(entry, where):
    methods.check_entry(entry, RELEASE, where, OPTIONAL)
    if not SOURCE_NAME.fullmatch(entry["source"]):
        raise ValueError(f"{where}: source must be lower-case letters, digits and _ (it names "
                         f"the runs' {{weights}}, published-<source>), not '{entry['source']}'")
    unknown = sorted(set(entry["pins"]) - set(entry["files"]))
    if unknown:
        raise ValueError(f"{where}: pins name files the release does not list: {unknown}")
    bad = sorted(k for k, v in entry["pins"].items() if not isinstance(v, str)
                 or not PIN.fullmatch(v))
    if bad:
        raise ValueError(f"{where}: the pins of {bad} must be sha256:<at least 8 hex digits>, "
                         "sha1:<40> or md5:<32>, lower-case")
    if bool(entry["pins"]) == ("unpinned" in entry):
        raise ValueError(f"{where}: pin at least one of its files, or say in 'unpinned' why "
                         "its publisher gave no digest (not both)")


def load_releases(method_id, methods_dir=Path(__file__).parent):
    """The releases a method can import ([] without a published.yaml), validated."""
    path = Path(methods_dir) / method_id / "published.yaml"
    entries = methods.load_list(path, "releases", check_release)
    keys = [(e["dataset"], e["source"]) for e in entries]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{path}: one release per dataset and source, found {keys}")
    return entries


def variant(release):
    return VARIANT + release["source"]


def source_of(weights):
    """The release source of a run's {weights} (published-<source>), or None."""
    return weights[len(VARIANT):] if weights.startswith(VARIANT) else None


def releases_for(method_id, dataset, methods_dir=Path(__file__).parent):
    """The method's releases trained on `dataset`, in published.yaml's order."""
    return [e for e in load_releases(method_id, methods_dir) if e["dataset"] == dataset]


def release_for(method_id, dataset, source, methods_dir=Path(__file__).parent):
    """The method's release trained on `dataset` from `source`, or None."""
    return next((e for e in releases_for(method_id, dataset, methods_dir)
                 if e["source"] == source), None)


def is_provided(release, folder):
    return folder is not None and all((Path(folder) / f).is_file() for f in release["files"])


def importable(method_id, dataset, folder):
    """The method's releases for `dataset` whose files are all in folder, refused ones left
    out: each becomes a published-<source> run of the workflow."""
    return [r for r in releases_for(method_id, dataset)
            if "refused" not in r and is_provided(r, folder)]


def verified_files(release, folder):
    """{file: sha256} of the release's files in folder; a missing file or one whose digest is
    not the pinned one (or does not start with the pinned digits) is refused, naming it and
    where the right one comes from."""
    digests = {}
    for name in release["files"]:
        path = Path(folder) / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; {release['name']} comes from "
                                    f"{release['url']}")
        algorithm, expected = release["pins"].get(name, "sha256:").split(":")
        found = file_digests(path, {"sha256", algorithm})
        digests[name] = found["sha256"]
        if not found[algorithm].startswith(expected):
            shown = expected + ("..." if len(expected) < len(found[algorithm]) else "")
            raise ValueError(f"{path}: {algorithm} {found[algorithm]}, but {release['name']} "
                             f"has {shown}: not the released file (get it from "
                             f"{release['url']})")
    return digests


def check_finite(state, where):
    """Refuse released tensors holding NaN or infinity, naming the released file (checkpoint.save
    would refuse them too, naming only the file it was to write)."""
    bad = checkpoint.nonfinite(state)
    if bad:
        raise ValueError(f"{where}: {len(bad)} tensors hold NaN or infinite values, e.g. "
                         f"{bad[:3]}: a damaged or diverged release")


def read_pth(path, container, what):
    """{name: numpy array} of a PyTorch checkpoint's state_dict: saved[container], or the whole
    file when container is None (a bare torch.save(state_dict)); read with weights_only, so a
    file cannot run code on loading."""
    import torch  # only the import of a .pth release needs it
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a file it cannot unpickle
        raise ValueError(f"{path}: not a checkpoint torch.load can read safely "
                         f"(weights_only): {err}") from err
    state = saved if container is None or not isinstance(saved, dict) else saved.get(container)
    if not isinstance(state, dict) or not all(hasattr(v, "numpy") for v in state.values()):
        found = sorted(saved)[:6] if isinstance(saved, dict) else type(saved).__name__
        holding = f"a dict holding '{container}', " if container else ""
        raise ValueError(f"{path}: expected {what} ({holding}the network's state_dict of "
                         f"tensors), found {found}")
    return {k: v.numpy() for k, v in state.items()}


def require_keys(state, expected, where, what):
    """Refuse a state_dict that lacks any of the expected names (its layout is not `what`)."""
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ValueError(f"{where}: not {what}: missing {missing[:4]} ({len(missing)} of "
                         f"{len(expected)} names)")


def import_release(method_id, dataset, source, folder):
    """(neutral state, metadata) of the method's release for `dataset` from `source` in
    folder; a refused release is read far enough to recognise its layout, then refused."""
    release = release_for(method_id, dataset, source)
    if release is None:
        raise ValueError(f"methods/{method_id}/published.yaml lists no release trained on "
                         f"{dataset} from source '{source}'")
    digests = verified_files(release, folder)
    module = importlib.import_module(f"methods.{method_id}.published")
    paths = [Path(folder) / f for f in release["files"]]
    if "refused" in release:
        if hasattr(module, "recognise"):
            module.recognise(source, paths)
        raise ValueError(f"{paths[0]}: {release['name']} is {release['architecture']}; "
                         f"refused: {release['refused']}")
    state, params = module.load(source, paths)
    check_finite(state, paths[0])
    origin = {"name": release["name"], "url": release["url"], "source": source,
              "files": digests, "pins": release["pins"]}
    if "unpinned" in release:
        origin["unpinned"] = release["unpinned"]
    metadata = {"harness": json.dumps({"method": method_id, "weights": variant(release),
                                       "params": params, "origin": origin}, sort_keys=True)}
    return state, metadata


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--dataset", required=True, help="the dataset the release was trained on")
    parser.add_argument("--source", required=True, help="the release's source in published.yaml")
    parser.add_argument("--dir", required=True, help="folder of released files "
                        "(configs/config.yaml published_weights_dir)")
    parser.add_argument("--out", required=True, help="the neutral checkpoint to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    state, metadata = import_release(args.method, args.dataset, args.source, args.dir)
    checkpoint.save(Path(args.out), state, metadata)
    origin = json.loads(metadata["harness"])["origin"]
    log.info("%s: %s, %d tensors, from %s", args.out, origin["name"], len(state),
             ", ".join(f"{f} (sha256 {d[:12]})" for f, d in origin["files"].items()))


if __name__ == "__main__":
    main()
