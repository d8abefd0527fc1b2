"""Places2, Places365-Standard (Zhou et al., TPAMI 2017): 256x256 train and validation sets."""
from datasets.prepare import read_list, require_folder

RESOLUTION = 256
WHERE = ("Get Places365-Standard's small images (train_256_places365standard.tar, "
         "val_256.tar) and file lists (filelist_places365-standard.tar) from "
         "http://places2.csail.mit.edu/download.html.")
LAYOUT = ("  places2/data_256/a/airfield/00000001.jpg ...   (train_256_places365standard.tar)\n"
          "  places2/val_256/Places365_val_00000001.jpg ... (val_256.tar, 36,500 images)\n"
          "  places2/places365_train_standard.txt  (lines '/a/airfield/00000001.jpg 0')\n"
          "  places2/places365_val.txt             (lines 'Places365_val_00000001.jpg 165')")
SPLIT = ("Places365-Standard: train = the 1,803,460 images of places365_train_standard.txt; "
         "test = the 36,500 validation images of places365_val.txt (the official test "
         "images are not used).")
# Zhou et al. 2017, Places365-Standard: 1,803,460 training and 36,500 validation images.
EXPECTED = {"train": 1_803_460, "test": 36_500}
# Training reads the 256x256 JPEGs in place (datasets/store.py): they already have the evaluation
# size and decode in 0.5 ms; a copy of 1.8M images would be the archive again, or 354 GB of pixels.
TRAIN_FILES = "source"


def list_images(root):
    """(id, path, split) of every listed image present under root."""
    train = require_folder(root / "data_256", "places2")
    val = require_folder(root / "val_256", "places2")
    rows = []
    for name, _ in read_list(root / "places365_train_standard.txt", 2,
                             "/a/airfield/00000001.jpg 0", "places2"):
        path = train / name.lstrip("/")
        if path.is_file():
            rows.append((name.lstrip("/").rsplit(".", 1)[0].replace("/", "_"), path, "train"))
    for name, _ in read_list(root / "places365_val.txt", 2, "Places365_val_00000001.jpg 165",
                             "places2"):
        if (val / name).is_file():
            rows.append((name.rsplit(".", 1)[0], val / name, "test"))
    return rows
