"""Where the VGG16 features of the perceptual and style losses come from, for both ports.

DESIGN.md's weight rule: the ImageNet VGG16 file is resolved (backbone_weights_dir or torch hub
cache, sha256-checked). Without it, training refuses, unless the settings say vgg_terms: false;
then the perceptual and style terms are dropped, and that deviation from the paper is returned so
that it lands in resolved.yaml and in the report beside the method's rows.
"""
from metrics import weights

NO_VGG = ("trained without the perceptual and style loss terms (vgg_terms: false): the loss "
          "is L_valid + 6 L_hole + 0.1 L_tv instead of the paper's L_total (Sec. 3.4)")


def vgg16_path(settings, backbones):
    """(path to the verified VGG16 file or None, deviations from the paper)."""
    if not settings["vgg_terms"]:
        return None, [NO_VGG]
    try:
        return weights.resolve("vgg16", **backbones), []
    except weights.WeightsUnavailable as err:
        raise SystemExit(
            f"Partial Convolutions training needs ImageNet VGG16 weights for its perceptual "
            f"and style losses, and none can be had: {err}. Put vgg16-397923af.pth in the "
            "folder named by backbone_weights_dir in configs/config.yaml, or set vgg_terms: "
            "false for this method under `training` in configs/config.yaml (the run then "
            "records and reports that deviation).") from err
