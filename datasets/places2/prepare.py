"""Places2 / Places365-Standard (Zhou et al., TPAMI 2017): declared; preparation lands with
issue #6."""
RESOLUTION = 256
WHERE = "Get Places365-Standard 256x256 images from http://places2.csail.mit.edu/download.html."
LAYOUT = ("  places2/train_256/...   (Places365-Standard small-image training set)\n"
          "  places2/val_256/Places365_val_00000001.jpg ... (36,500 validation images)")
