"""What each metric is, how it is displayed, and the notes printed under every table."""

# label, unit shown in headers, display scale (raw values are stored unscaled; contract), digits,
# which direction is better, and the exact definition the score stage implements.
METRICS = {
    "psnr": dict(
        label="PSNR", unit="dB", scale=1.0, digits=2, better="higher",
        definition="Peak signal-to-noise ratio in dB with data range 1: 10·log10(1/MSE), "
        "MSE over all pixels and channels of the composited output against the ground truth.",
    ),
    "ssim": dict(
        label="SSIM", unit="unitless, at most 1", scale=1.0, digits=4, better="higher",
        definition="Structural similarity (Wang et al. 2004): Gaussian window sigma 1.5 "
        "(11×11), K1 = 0.01, K2 = 0.03, computed per channel then averaged; as "
        "skimage.metrics.structural_similarity(gaussian_weights=True, "
        "use_sample_covariance=False, data_range=1).",
    ),
    "l1": dict(
        label="L1", unit="%, i.e. mean absolute error ×100", scale=100.0, digits=2,
        better="lower",
        definition="Mean absolute error over the whole image (all pixels and channels) on the "
        "[0,1] scale; shown ×100 as %.",
    ),
    "l1_hole": dict(
        label="L1 (hole)", unit="%, i.e. mean absolute error ×100", scale=100.0, digits=2,
        better="lower",
        definition="Mean absolute error over the hole pixels only (all channels) on the "
        "[0,1] scale; shown ×100 as %.",
    ),
    "lpips": dict(
        label="LPIPS", unit="unitless", scale=1.0, digits=4, better="lower",
        definition="Learned perceptual image patch similarity (Zhang et al. 2018), lpips "
        "package, AlexNet backbone, linear layers v0.1.",
    ),
    "fid": dict(
        label="FID", unit="unitless", scale=1.0, digits=2, better="lower",
        definition="Fréchet Inception distance (Heusel et al. 2017), pytorch-fid InceptionV3 "
        "pool3 features (2048-d), computed per bucket, and over all items of the mask set "
        "('all', the figure most papers quote), between the composited outputs and the "
        "ground-truth images of the same items. FID depends on N (it is biased high when N is "
        "small, and strongly so when N is below 2,048, the feature dimension): compare it only "
        "between rows of equal N.",
    ),
}

COMPOSITE_NOTE = (
    "Outputs are composited: pred*mask + image*(1-mask), saved as 8-bit PNG, then scored."
)

PSNR_INF_NOTE = (
    "Identical images give infinite PSNR (MSE = 0; e.g. the oracle control). Means are taken "
    "over the values as they are, finite or infinite, so a row with any identical image shows "
    "a mean of ∞, and the cell adds how many of its N images were identical (k/N ∞). "
    "An interval bound is ∞ when at least that share of resampled means is infinite; "
    "an interval of [∞, ∞] is shown as ∞ alone. Plots omit infinite means."
)

FID_NOTE = (
    "FID has no interval here: it is one value per bucket (and one over the whole set) "
    "computed over a set of images, not a mean over items, so it cannot be bootstrapped from "
    "the score rows. N is the number of images behind the value. The ground-truth statistics "
    "of each bucket and of the set are computed once per dataset and mask set "
    "(results/fid/<dataset>/<mask_set>/, pytorch-fid's .npz layout) and shared by every row."
)

UNAVAILABLE_NOTE = (
    "'unavailable' means the score stage could not compute the metric (it never substitutes "
    "random backbone weights); reasons, verbatim:"
)


def short_unit(metric: str) -> str:
    """'dB', '%' or '' (unitless): the unit a display value carries."""
    info = METRICS[metric]
    return "dB" if info["unit"] == "dB" else "%" if info["scale"] == 100 else ""


def short_header(metric: str) -> str:
    """'L1 (%)', 'PSNR (dB)', 'SSIM': for a column that names the metric in every row."""
    unit = short_unit(metric)
    return METRICS[metric]["label"] + (f" ({unit})" if unit else "")


def header(metric: str) -> str:
    """Table title with unit and direction, e.g. 'PSNR (dB, higher is better)'."""
    info = METRICS[metric]
    return f"{info['label']} ({info['unit']}; {info['better']} is better)"


def interval_note(samples: int, seed: int) -> str:
    return (
        f"Each cell: mean over items [95% bootstrap percentile interval]: {samples} resamples "
        "of the cell's items with replacement; the bounds are the ⌈0.025·B⌉-th and "
        "⌈0.975·B⌉-th smallest resampled means; generator numpy default_rng([seed, "
        "crc32('mask_set|method|framework|weights|bucket|metric')]) with seed "
        f"{seed}, so the report is reproducible and independent of row order. N is the number "
        "of items (shown in the column header when every row of the column has the same N, "
        "otherwise in the cell). 'all' pools every item of the mask set; '—' means no rows."
    )


def items_note(rule: str) -> str:
    """How the items of every bucket were chosen (datasets/pairing.py describe)."""
    return f"Items: {rule}."


def general_notes(samples: int, seed: int) -> list[str]:
    """Notes that hold for every table of a mask set (printed once above them)."""
    return [interval_note(samples, seed), COMPOSITE_NOTE]


def short_interval_note(samples: int) -> str:
    """For LaTeX captions, which must stand alone when a table is cited."""
    return (f"Cells: mean over items [95% bootstrap percentile interval, {samples} resamples "
            "of items]; N = items; 'all' pools every item.")


def table_notes(metric: str, reasons: list[str]) -> list[str]:
    """Notes specific to one metric table; reasons are the distinct non-ok statuses."""
    notes = [f"{METRICS[metric]['label']}: {METRICS[metric]['definition']}"]
    if metric == "fid":
        notes.append(FID_NOTE)
    if metric == "psnr":
        notes.append(PSNR_INF_NOTE)
    if reasons:
        notes.append(UNAVAILABLE_NOTE + " " + " | ".join(reasons))
    return notes


def paired_interval_note(samples: int, seed: int) -> str:
    return (f"[95% paired bootstrap percentile interval]: {samples} resamples of the bucket's "
            "items with replacement, each taking the same items from both runs; the bounds are "
            "the ⌈0.025·B⌉-th and ⌈0.975·B⌉-th smallest resampled mean differences; generator "
            f"numpy default_rng([seed, crc32('paired|mask_set|bucket')]) with seed {seed}, one "
            "set of resamples per bucket shared by every pair and metric")


def agreement_note(samples: int, seed: int) -> str:
    return ("Each cell: the mean over the bucket's items of the paired difference paddle − "
            "torch (the same image and mask in both; shown in the metric's display scale) "
            f"{paired_interval_note(samples, seed)}. '*': the interval excludes 0, so the two "
            "ports differ there beyond resampling noise; the verdict lines sum the table up. "
            "FID is one value per bucket, with nothing to pair, and is not in this table: "
            "compare its two rows in the FID table.")


def comparison_note(samples: int, seed: int) -> str:
    return ("Each cell: the mean over the bucket's items of A − B (in the metric's display "
            f"scale; the table's title says which direction is better) "
            f"{paired_interval_note(samples, seed)}. A difference is called only when its "
            "interval excludes 0: 'A' or 'B' after a cell names the better run there; no "
            "letter: no difference is called. Comparisons are made only between runs of the "
            "same mask set on identical items (the same N); none is made across mask sets or "
            "between different N. Each learned run is compared with every baseline that sees "
            "no ground truth (classical methods, mean_fill) and with the other learned methods "
            "of its framework and weights. Intervals are not corrected for multiple "
            "comparisons: about 1 in 20 cells where two runs are equally good is called by "
            "chance.")
