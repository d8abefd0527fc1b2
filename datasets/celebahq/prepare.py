"""CelebA-HQ (Karras et al., ICLR 2018): declared; preparation lands with issue #6."""
RESOLUTION = 256
WHERE = ("CelebA-HQ is built from CelebA with the scripts of https://github.com/tkarras/"
         "progressive_growing_of_gans, or obtained as 1024x1024 images from the same source.")
LAYOUT = ("  celebahq/images/<celeba id>.jpg   (1024x1024 faces, named by CelebA image id)")
