"""CelebA-HQ (Karras et al., ICLR 2018), split by CelebA's official partition."""
import re

from datasets.prepare import DatasetError, require_folder

RESOLUTION = 256
WHERE = ("CelebA-HQ's 30,000 faces come from CelebA through the scripts of "
         "https://github.com/tkarras/progressive_growing_of_gans, or ready made (1024x1024 JPEG) "
         "in CelebAMask-HQ, https://github.com/switchablenorms/CelebAMask-HQ, whose "
         "CelebA-HQ-to-CelebA-mapping.txt gives each face's CelebA file name (see "
         "datasets/celebahq/README.md for the renaming).")
LAYOUT = ("  celebahq/000004.jpg ... (the 30,000 faces, 1024x1024, each named by its CelebA file "
          "name, 000001.jpg-202599.jpg)")
SPLIT = ("CelebA's official, identity-disjoint partition applied to each face's CelebA id, as "
         "CelebAMask-HQ splits it (Lee et al. 2020): ids 1-162,770 train, 182,638-202,599 "
         "test; the validation ids 162,771-182,637 are not used.")
# CelebAMask-HQ (Lee et al., CVPR 2020), Sec. 3: 24,183 / 2,993 / 2,824 of the 30,000 faces.
EXPECTED = {"train": 24_183, "val": 2_993, "test": 2_824}
# Training reads 256 px PNG copies (datasets/store.py): decoding a 1024 px face and resizing it
# takes 21.8 ms on one core, 2.8 ms for the PNG copy (96 KB, about the JPEG's own size), so 16
# cores decode the sources at about 730 images/s, too few for a GPU (datasets/celebahq/README).
TRAIN_FILES = "png"
# The contiguous id ranges of CelebA's list_eval_partition.txt (datasets/celeba/), as
# mit-han-lab/anycost-gan thirdparty/celeba_hq_split.py applies them to CelebA-HQ.
FIRST_VAL, FIRST_TEST, LAST = 162_771, 182_638, 202_599
NAME = re.compile(r"^(\d{6})\.jpg$")


def partition(celeba_id):
    return "train" if celeba_id < FIRST_VAL else "val" if celeba_id < FIRST_TEST else "test"


def list_images(root):
    """(id, path, official split) of every face under root."""
    folder = require_folder(root, "celebahq")
    rows = []
    for path in sorted(folder.iterdir()):
        match = NAME.match(path.name)
        if not match or not 1 <= int(match[1]) <= LAST:
            raise DatasetError(
                f"{path}: not a CelebA-HQ face as the recipe names them (000001.jpg-202599.jpg, "
                "the face's CelebA file name). Rename CelebAMask-HQ's 0.jpg-29999.jpg with its "
                "CelebA-HQ-to-CelebA-mapping.txt (datasets/celebahq/README.md), and keep "
                f"nothing else in {folder}.")
        rows.append((match[1], path, partition(int(match[1]))))
    return rows
