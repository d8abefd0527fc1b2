"""CelebA (Liu et al., ICCV 2015): the aligned-and-cropped faces, the official partition."""
import os

from datasets.prepare import read_list, require_folder

RESOLUTION = 256
WHERE = ("Get CelebA's 'Align&Cropped Images' (img_align_celeba.zip) and "
         "Eval/list_eval_partition.txt from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html "
         "(non-commercial research use).")
LAYOUT = ("  celeba/img_align_celeba/000001.jpg ... 202599.jpg   (178x218 JPEG)\n"
          "  celeba/list_eval_partition.txt   (lines '000001.jpg 0'; 0 train, 1 val, 2 test)")
SPLIT = ("CelebA's official partition, list_eval_partition.txt: train 162,770 (0), test "
         "19,962 (2); the 19,867 validation images (1) are not used.")
# Liu et al. 2015, list_eval_partition.txt: 162,770 / 19,867 / 19,962 of 202,599 images.
EXPECTED = {"train": 162_770, "val": 19_867, "test": 19_962}
# Training reads the 178x218 JPEGs in place (datasets/store.py): about 7 KB each, decoded, cropped
# and resized in 1.9 ms on one core, against about 100 KB for a 256 px PNG copy that decodes in
# 2.8 ms (datasets/celeba/README.md).
TRAIN_FILES = "source"
PARTITIONS = {"0": "train", "1": "val", "2": "test"}


def list_images(root):
    """(id, path, official split) of every listed image present under root."""
    folder = require_folder(root / "img_align_celeba", "celeba")
    rows = read_list(root / "list_eval_partition.txt", 2, "000001.jpg 0", "celeba")
    present = set(os.listdir(folder))
    return [(name.rsplit(".", 1)[0], folder / name, PARTITIONS.get(code, code))
            for name, code in rows if name in present]
