"""CelebA (Liu et al., ICCV 2015): declared; preparation lands with issue #6."""
RESOLUTION = 256
WHERE = ("Get CelebA's aligned-and-cropped images and the evaluation partition from "
         "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (non-commercial research use).")
LAYOUT = ("  celeba/img_align_celeba/000001.jpg ... 202599.jpg\n"
          "  celeba/list_eval_partition.txt   (official split: 162,770 / 19,867 / 19,962)")
