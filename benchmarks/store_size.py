"""Disk cost of a prepared training split, in bytes per training image, against its sources.

    python -m benchmarks.store_size [--celebahq ../shared/data/celebahq_sample] [--places 300]

Prepares (datasets.prepare, in a temporary folder) the CelebA-HQ sample (TRAIN_FILES "png":
256 px PNG copies) and a fabricated Places2-layout folder of --places 256x256 JPEGs made from
those faces (TRAIN_FILES "source": the JPEGs are read in place), and prints, per training
image, the bytes of the sources and of train/ (manifest, store.json and any copies), and the
figure scaled to the full dataset. A benchmark that prints figures, not a test.
"""
import argparse
import io
import tempfile
from pathlib import Path

import pandas as pd
from PIL import Image

from datasets.prepare import prepare, settings

FULL = {"celebahq": 24_183, "places2": 1_803_460}


def folder_bytes(folder):
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def fake_places(root, faces, count):
    """A Places2 layout (datasets/places2/README.md) of count training and count // 10
    validation 256x256 JPEGs (quality 75, about the archive's 13 KB an image)."""
    (root / "data_256" / "a" / "airfield").mkdir(parents=True)
    (root / "val_256").mkdir()
    train, val = [], []
    for i in range(count + count // 10):
        face = Image.open(faces[i % len(faces)]).convert("RGB").resize((256, 256))
        data = io.BytesIO()
        face.save(data, "JPEG", quality=75)
        if i < count:
            name = f"/a/airfield/{i + 1:08d}.jpg"
            (root / "data_256" / name[1:]).write_bytes(data.getvalue())
            train.append(f"{name} 0")
        else:
            name = f"Places365_val_{i - count + 1:08d}.jpg"
            (root / "val_256" / name).write_bytes(data.getvalue())
            val.append(f"{name} 0")
    (root / "places365_train_standard.txt").write_text("\n".join(train) + "\n")
    (root / "places365_val.txt").write_text("\n".join(val) + "\n")


def report(name, root, out, split):
    options = {**settings(name, {"datasets": {name: {"root": str(root)}}}),
               "allow_subset": True, "split": split}
    record = prepare(name, root, out, options, workers=2)
    count = record["counts"]["train"]
    stored = folder_bytes(Path(out) / "train")
    manifest = pd.read_csv(Path(out) / "train" / "manifest.tsv", sep="\t")
    sources = manifest.source if "source" in manifest.columns else manifest.file
    source_bytes = sum((Path(root) / f).stat().st_size for f in sources)
    print(f"{name:9s} {count:5d} training images: sources {source_bytes / count:9.0f} B/image, "
          f"train/ {stored / count:9.0f} B/image; at {FULL[name]:,} images: train/ "
          f"{stored / count * FULL[name] / 1e9:.2f} GB")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--celebahq", type=Path, default=Path(__file__).resolve().parents[2] /
                        "shared" / "data" / "celebahq_sample")
    parser.add_argument("--places", type=int, default=300)
    args = parser.parse_args(argv)
    faces = sorted(args.celebahq.glob("*.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        report("celebahq", args.celebahq, tmp / "celebahq", "interleaved")
        fake_places(tmp / "places2", faces, args.places)
        report("places2", tmp / "places2", tmp / "out_places2", "official")


if __name__ == "__main__":
    main()
