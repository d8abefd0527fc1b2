"""The embedded `demo` dataset: fixed 128x128 crops of the colour photographs scikit-image ships.

Why these numbers: the whole demo (prepare, masks, every method in every framework, training
included once learned methods land, scoring, report) must finish within 5 minutes on a 2-core
CPU. 128x128 is the smallest size at which the learned methods' encoders still downsample
meaningfully; 16 test crops x 6 buckets keep prediction and scoring to seconds.

Split by source photograph, so no test pixel was ever seen in training:
  test  = astronaut, coffee, chelsea (portrait, still life, animal): non-overlapping crops
  train = rocket, motorcycle (left view), hubble_deep_field, immunohistochemistry, retina:
          crops on a stride of a quarter crop (overlapping, for more training views)
Crop rule: the square crop side is half the source's short side (in source pixels, an integer),
the crop is resized to 128x128 with OpenCV's INTER_AREA (box averaging, the standard choice for
downscaling). Test sources are PNG files, so the test set does not depend on a JPEG decoder.
"""
import cv2
import skimage.data

RESOLUTION = 128
WHERE = "Built from the photographs scikit-image ships; nothing to download."
LAYOUT = ""
SPLIT = ("by source photograph: test = astronaut, coffee, chelsea (non-overlapping crops); "
         "train = rocket, stereo_motorcycle (left view), hubble_deep_field, "
         "immunohistochemistry, retina (crops on a quarter-crop stride).")
CROP = ("square crops of side half the photograph's short side, resized to 128x128 with "
        "OpenCV's INTER_AREA")
TEST_SOURCES = ("astronaut", "coffee", "chelsea")
TRAIN_SOURCES = ("rocket", "stereo_motorcycle", "hubble_deep_field", "immunohistochemistry",
                 "retina")


def load_source(name):
    image = getattr(skimage.data, name)()
    return image[0] if name == "stereo_motorcycle" else image  # (left, right, disparity)


def crop_boxes(height, width, side, stride):
    """Top-left-first grid of side x side boxes (x0, y0, x1, y1) that fit inside the image."""
    return [(x, y, x + side, y + side)
            for y in range(0, height - side + 1, stride)
            for x in range(0, width - side + 1, stride)]


def crops(sources, stride_fraction):
    """(id, uint8 128x128x3 crop, manifest columns) of every crop of the sources."""
    items = []
    for name in sources:
        image = load_source(name)
        side = min(image.shape[:2]) // 2
        for x0, y0, x1, y1 in crop_boxes(*image.shape[:2], side, side // stride_fraction):
            crop = cv2.resize(image[y0:y1, x0:x1], (RESOLUTION, RESOLUTION),
                              interpolation=cv2.INTER_AREA)
            items.append((f"{name}_{x0:04d}_{y0:04d}", crop,
                          dict(source=name, x0=x0, y0=y0, x1=x1, y1=y1)))
    return items


def splits():
    """The demo's images, in memory (181 crops of 128x128): datasets.prepare writes them."""
    return {"test": crops(TEST_SOURCES, 1), "train": crops(TRAIN_SOURCES, 4)}
