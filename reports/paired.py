"""Paired differences on the same items: torch-vs-paddle agreement and method comparisons.

Every run of a mask set scores the same items (the pairing rule; checked here from the score
rows), so two runs compare item by item: the per-item difference a - b, its mean, and a 95%
paired bootstrap percentile interval of that mean. Per mask set and bucket ('all' included) one
set of B resamples of the bucket's items is drawn, from numpy default_rng([seed,
crc32('paired|<mask_set>|<bucket>')]), and shared by every pair and metric there: a resample
takes the same items from a and from b (that is what makes it paired), and adding a method
changes no other interval. The bounds are the same order statistics as the per-cell intervals
(stats.percentile_bounds).
"""
import numpy as np
import pandas as pd

from reports import captions
from reports.stats import ALL, SET_METRICS, cell_seed, percentile_bounds

AGREEMENT, METHODS = "agreement", "methods"
COLUMNS = ["mask_set", "comparison", "a", "b", "bucket", "metric", "n", "mean", "ci_low",
           "ci_high", "status", "call"]
_DRAWS_PER_BLOCK = 1 << 22  # 32 MiB of int64 indices per block of resamples, as stats.py


def label(key: tuple) -> str:
    return " / ".join(key)


def agreement_pairs(keys: list[tuple]) -> list[tuple]:
    """(paddle run, torch run) of each method and weights scored in both frameworks."""
    frameworks = {}
    for method, framework, weights in keys:
        frameworks.setdefault((method, weights), set()).add(framework)
    return [((method, "paddle", weights), (method, "torch", weights))
            for (method, weights), found in frameworks.items() if {"torch", "paddle"} <= found]


def comparison_pairs(keys: list[tuple], specs: dict) -> list[tuple]:
    """Each learned run against each run that neither learns nor sees the ground truth (the
    classical methods, mean_fill), then the learned runs against each other within one
    framework and weights; keys come in table-row order, so pairs do too."""
    learned = [k for k in keys if specs[k[0]]["kind"] == "learned"]
    baselines = [k for k in keys if specs[k[0]]["kind"] != "learned"
                 and not specs[k[0]].get("sees_ground_truth", False)]
    pairs = [(a, b) for a in learned for b in baselines]
    pairs += [(a, b) for i, a in enumerate(learned) for b in learned[i + 1:]
              if a[1:] == b[1:] and a[0] != b[0]]
    return pairs


def resampled_means(diffs: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """(samples, k) means of the columns of diffs (n, k) over B resamples of its n rows. The
    draws are rng.integers(0, n, size=(B, n)) taken in blocks of whole resamples (the same
    stream as one call), counted per item, so one product serves every column."""
    n = len(diffs)
    block = max(1, _DRAWS_PER_BLOCK // n)
    means = []
    for start in range(0, samples, block):
        rows = min(block, samples - start)
        draws = rng.integers(0, n, size=(rows, n)) + n * np.arange(rows)[:, None]
        counts = np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n)
        means.append(counts @ diffs / n)
    return np.concatenate(means)


def _wide(frame: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(values, statuses): items x runs (run labels) of one mask set's metric."""
    part = frame[frame["metric"] == metric]
    pairing = part.groupby("item")[["image_id", "mask_id", "bucket"]].nunique()
    mixed = pairing[(pairing > 1).any(axis=1)]
    if not mixed.empty:
        raise ValueError(f"mask set {frame['mask_set'].iloc[0]}: item {mixed.index[0]} pairs a "
                         "different image, mask or bucket in different score tables; runs "
                         "that do not score the same items cannot be compared")
    values = part.pivot(index="item", columns="run", values="value")
    statuses = part.pivot(index="item", columns="run", values="status")
    return values, statuses


def _call(comparison: str, metric: str, mean: float, low: float, high: float) -> str:
    if not (low > 0 or high < 0):
        return "agree" if comparison == AGREEMENT else "no difference called"
    if comparison == AGREEMENT:
        return "differ"
    higher = captions.METRICS[metric]["better"] == "higher"
    return "a better" if (mean > 0) == higher else "b better"


def _status(statuses: pd.DataFrame, a: str, b: str, diffs: np.ndarray) -> str:
    bad = sorted((set(statuses[a]) | set(statuses[b])) - {"ok"})
    if bad:
        return "; ".join(bad)
    infinite = int((~np.isfinite(diffs)).sum())
    if infinite:
        return (f"not comparable: {infinite} of {len(diffs)} items have an infinite value "
                "(identical images) in one run or both, so their difference has no finite mean")
    return "ok"


def _bucket_rows(mask_set, bucket, items, tables, pairs, seed, samples) -> list[dict]:
    cells, columns = [], []
    for metric, (values, statuses) in tables.items():
        for comparison, a, b in pairs:
            diffs = (values.loc[items, a] - values.loc[items, b]).to_numpy(np.float64)
            status = _status(statuses.loc[items], a, b, diffs)
            cells.append(dict(mask_set=mask_set, comparison=comparison, a=a, b=b, bucket=bucket,
                              metric=metric, n=len(items), mean=np.nan, ci_low=np.nan,
                              ci_high=np.nan, status=status, call=""))
            if status == "ok":
                columns.append((len(cells) - 1, diffs))
    rng = np.random.default_rng([seed, cell_seed(("paired", mask_set, bucket))])
    if columns:
        diffs = np.stack([d for _, d in columns], axis=1)
        means = np.sort(resampled_means(diffs, samples, rng), axis=0)
        lows, highs = percentile_bounds(means)
        for (index, d), low, high in zip(columns, lows, highs):
            cell = cells[index]
            cell.update(mean=float(d.mean()), ci_low=float(low), ci_high=float(high))
            cell["call"] = _call(cell["comparison"], cell["metric"], cell["mean"], low, high)
    return cells


def paired(scores: pd.DataFrame, specs: dict, seed: int, samples: int,
           mask_sets: list[str], keys: list[tuple]) -> pd.DataFrame:
    """Agreement and comparison cells (COLUMNS) per mask set x pair x bucket (+ 'all') x item
    metric. keys: every run (method, framework, weights) in table-row order. Set metrics
    (FID) have no per-item values and are left out."""
    rows = []
    scores = scores.assign(run=scores["method"] + " / " + scores["framework"] + " / "
                           + scores["weights"])
    for mask_set in mask_sets:
        frame = scores[(scores["mask_set"] == mask_set) & ~scores["metric"].isin(SET_METRICS)]
        present = set(frame["run"])
        here = [k for k in keys if label(k) in present]
        pairs = [(AGREEMENT, label(a), label(b)) for a, b in agreement_pairs(here)]
        pairs += [(METHODS, label(a), label(b)) for a, b in comparison_pairs(here, specs)]
        if not pairs:
            continue
        metrics = [m for m in captions.METRICS if m in set(frame["metric"])]
        tables = {metric: _wide(frame, metric) for metric in metrics}
        buckets = frame.drop_duplicates("item").set_index("item")["bucket"].sort_index()
        groups = [(b, list(items.index)) for b, items in buckets.groupby(buckets, sort=True)]
        for bucket, items in [*groups, (ALL, list(buckets.index))]:
            rows += _bucket_rows(mask_set, bucket, items, tables, pairs, seed, samples)
    return pd.DataFrame(rows, columns=COLUMNS)
