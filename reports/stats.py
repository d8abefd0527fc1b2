"""Per-cell means with 95% bootstrap percentile intervals, from long-format score rows."""
import re
import zlib

import numpy as np
import pandas as pd

ALL = "all"
KEY = ["mask_set", "method", "framework", "weights"]
COLUMNS = [*KEY, "kind", "bucket", "metric", "n", "mean", "ci_low", "ci_high", "status"]
SET_METRICS = {"fid"}  # one value per bucket over the whole set: nothing to resample
_DRAWS_PER_BLOCK = 1 << 22  # 32 MiB of int64 indices per block of resamples
_INTERVAL = re.compile(r"^[(\[]\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*[)\]]$")


def cell_seed(parts: tuple) -> int:
    """Stable integer from a cell's identity (not its position), so adding, removing or
    reordering rows never changes another cell's interval."""
    return zlib.crc32("|".join(str(p) for p in parts).encode("utf-8"))


def _order_statistic(samples: int, permille: int) -> int:
    """1-based rank ceil(samples * permille / 1000), in integers to avoid float rounding."""
    return max(1, -(-samples * permille // 1000))


def percentile_bounds(means: np.ndarray) -> tuple[float, float]:
    """The 95% percentile interval from B resampled means, sorted along axis 0: the
    ceil(0.025 B)-th and ceil(0.975 B)-th smallest (one pair per column of a 2-D array)."""
    samples = len(means)
    return (means[_order_statistic(samples, 25) - 1], means[_order_statistic(samples, 975) - 1])


def bootstrap_ci(values, samples: int, rng: np.random.Generator) -> tuple[float, float]:
    """95% percentile interval of the mean: the ceil(0.025 B)-th and ceil(0.975 B)-th smallest
    of B resampled means. Order statistics, not interpolation, because interpolating between
    a finite and an infinite mean (PSNR of identical images) gives NaN."""
    values = np.asarray(values, dtype=np.float64)
    # Resamples are drawn in blocks of whole rows to bound memory (a pooled 'all' cell can hold
    # 10^5 items); int64 draws are unbuffered, so the blocks give exactly the stream of one
    # rng.integers(0, n, size=(B, n)) call (tests check this).
    block = max(1, _DRAWS_PER_BLOCK // len(values))
    means = np.concatenate([
        values[rng.integers(0, len(values), size=(min(block, samples - start), len(values)))]
        .mean(axis=1) for start in range(0, samples, block)])
    means.sort()
    low, high = percentile_bounds(means)
    return float(low), float(high)


def _status(cell: pd.DataFrame) -> str:
    """'ok', or the distinct non-ok statuses joined: a mean over only the rows that could be
    scored would not be comparable with the other rows, so any failure voids the cell."""
    bad = sorted(set(cell.loc[cell["status"] != "ok", "status"]))
    return "; ".join(bad) if bad else "ok"


def _item_cell(key: tuple, bucket: str, metric: str, cell: pd.DataFrame, seed: int,
               samples: int) -> dict:
    row = dict(zip([*KEY, "kind"], key), bucket=bucket, metric=metric, n=len(cell),
               mean=np.nan, ci_low=np.nan, ci_high=np.nan, status=_status(cell), n_inf=0)
    if row["status"] != "ok":
        return row
    # Sorting by item makes resampling independent of the order rows arrive in.
    values = cell.sort_values("item", kind="stable")["value"].to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError(f"score rows {key} {bucket} {metric}: NaN value with status ok")
    rng = np.random.default_rng([seed, cell_seed((*key[:4], bucket, metric))])
    row["mean"] = float(values.mean())
    row["ci_low"], row["ci_high"] = bootstrap_ci(values, samples, rng)
    row["n_inf"] = int(np.isinf(values).sum())
    return row


def _set_cells(key: tuple, metric: str, part: pd.DataFrame, counts: pd.Series) -> list[dict]:
    """Set metrics (FID): the stored value as it is, N = items scored in that bucket (in the
    whole set for the 'all' row)."""
    rows = []
    for record in part.sort_values("bucket", kind="stable").itertuples():
        ok = record.status == "ok"
        rows.append(dict(zip([*KEY, "kind"], key), bucket=record.bucket, metric=metric,
                         n=int(counts.get(record.bucket, 0)),
                         mean=float(record.value) if ok else np.nan, ci_low=np.nan,
                         ci_high=np.nan, status=record.status, n_inf=0))
    return rows


def summarise(scores: pd.DataFrame, seed: int, samples: int) -> pd.DataFrame:
    """One row per mask set x method x framework x weights x bucket (+ 'all') x metric.
    Columns COLUMNS plus n_inf (items with an infinite value, for display)."""
    rows = []
    for key, frame in scores.groupby([*KEY, "kind"], sort=True):
        items = frame[~frame["metric"].isin(SET_METRICS)]
        counts = items.drop_duplicates("item").groupby("bucket").size()
        counts[ALL] = int(counts.sum())
        for metric, part in frame.groupby("metric", sort=True):
            if metric in SET_METRICS:
                rows += _set_cells(key, metric, part, counts)
                continue
            for bucket, cell in [*part.groupby("bucket", sort=True), (ALL, part)]:
                rows.append(_item_cell(key, bucket, metric, cell, seed, samples))
    return pd.DataFrame(rows, columns=[*COLUMNS, "n_inf"])


def bucket_positions(scores: pd.DataFrame) -> dict[str, float]:
    """Hole-ratio position of each bucket: the midpoint of an '(a,b]' label, else (e.g. box
    masks) the mean hole ratio of its items. Orders the columns and is the plots' x axis. The
    set metrics' 'all' rows (FID over the whole set) are no bucket."""
    positions = {}
    for bucket, part in scores[scores["bucket"] != ALL].groupby("bucket", sort=True):
        match = _INTERVAL.match(str(bucket))
        if match:
            positions[bucket] = (float(match.group(1)) + float(match.group(2))) / 2
        else:
            positions[bucket] = float(part["hole_ratio"].mean())
    return positions


def check_unique(scores: pd.DataFrame) -> None:
    """One value per item x metric per run (and one per bucket for set metrics)."""
    ident = [*KEY, "metric", "item", "bucket"]
    dup = scores[scores.duplicated(ident, keep=False)]
    if not dup.empty:
        raise ValueError(f"duplicate score rows:\n{dup[ident].head().to_string()}")
