"""Display of the paired cells (reports/paired.py): the torch-vs-paddle agreement table with its
one-line verdicts, and the method comparison tables; raw values go to paired.csv."""
import pandas as pd

from reports import captions
from reports.paired import AGREEMENT, COLUMNS, METHODS
from reports.stats import ALL
from reports.tables import Table

# the closing mark of a cell whose interval excludes 0 (page.MARKS colours it)
MARK = {"a better": " A", "b better": " B", "differ": " *"}


def signed(value: float, metric: str) -> str:
    info = captions.METRICS[metric]
    return f"{value * info['scale']:+.{info['digits']}f}"


def cell_text(row) -> str:
    """'+d [+low, +high]' in the metric's display scale, plus the mark of a called difference;
    'unavailable' (or why not comparable) otherwise."""
    if row is None:
        return "—"
    if row.status != "ok":
        return ("not comparable (∞)" if row.status.startswith("not comparable")
                else "unavailable")
    return (f"{signed(row.mean, row.metric)} [{signed(row.ci_low, row.metric)}, "
            f"{signed(row.ci_high, row.metric)}]" + MARK.get(row.call, ""))


def _headers(part: pd.DataFrame, columns: list[str]) -> list[str]:
    """Every pair of a bucket has the same items, so N is the column's."""
    counts = part.drop_duplicates("bucket").set_index("bucket")["n"]
    return [f"{c} (N={counts[c]})" if c in counts else c for c in columns]


def _reasons(part: pd.DataFrame) -> list[str]:
    bad = sorted(set(part.loc[part["status"] != "ok", "status"]))
    return [captions.UNAVAILABLE_NOTE + " " + " | ".join(bad)] if bad else []


def agreement_table(paired: pd.DataFrame, mask_set: str, buckets: list[str],
                    samples: int, seed: int) -> Table | None:
    part = paired[(paired["mask_set"] == mask_set) & (paired["comparison"] == AGREEMENT)]
    if part.empty:
        return None
    columns = [*buckets, ALL]
    cells = {(r.a, r.metric, r.bucket): r for r in part.itertuples()}
    body = []
    for a in dict.fromkeys(part["a"]):
        method, _, weights = a.split(" / ")
        for metric in [m for m in captions.METRICS if m in set(part["metric"])]:
            body.append(([method, weights, captions.short_header(metric)],
                         [cell_text(cells.get((a, metric, c))) for c in columns]))
    return Table(mask_set, "agreement", "Framework agreement: paddle − torch, same items",
                 _headers(part, columns), [("paddle − torch", body)],
                 [captions.agreement_note(samples, seed)] + _reasons(part),
                 keys=["method", "weights", "metric"], group="difference")


def _bound(rows: pd.DataFrame) -> float:
    return float(max(rows["ci_low"].abs().max(), rows["ci_high"].abs().max()))


def verdicts(paired: pd.DataFrame, mask_set: str) -> list[str]:
    """One line per method scored in both frameworks: 'agree within x' (x: the largest |end|
    of its intervals, per metric) or where they differ."""
    part = paired[(paired["mask_set"] == mask_set) & (paired["comparison"] == AGREEMENT)]
    lines = []
    for a, rows in part.groupby("a", sort=False):
        method, _, weights = a.split(" / ")
        ok = rows[rows["status"] == "ok"]
        if ok.empty:
            lines.append(f"{method} ({weights}): not comparable: {rows['status'].iloc[0]}")
            continue
        metrics = [m for m in captions.METRICS if m in set(ok["metric"])]
        within = ", ".join(f"{captions.METRICS[m]['label']} "
                           f"±{_shown(_bound(ok[ok.metric == m]), m)}" for m in metrics)
        differ = ok[ok["call"] == "differ"]
        if differ.empty:
            lines.append(f"{method} ({weights}): paddle and torch agree within {within} in "
                         "every bucket: every 95% paired interval contains 0.")
            continue
        where = "; ".join(f"{captions.METRICS[m]['label']} in "
                          + ", ".join(differ.loc[differ.metric == m, "bucket"])
                          for m in metrics if (differ.metric == m).any())
        lines.append(f"{method} ({weights}): paddle and torch differ ({where}: the interval "
                     f"excludes 0); all intervals lie within {within}.")
    return lines


def _shown(value: float, metric: str) -> str:
    info, unit = captions.METRICS[metric], captions.short_unit(metric)
    return f"{value * info['scale']:.{info['digits']}f}" + (f" {unit}" if unit else "")


def comparison_tables(paired: pd.DataFrame, mask_set: str, buckets: list[str],
                      specs: dict) -> list[Table]:
    """One table per item metric: rows 'A − B' (A learned; B a baseline, or another learned
    method of the same framework and weights). captions.comparison_note is their caption."""
    part = paired[(paired["mask_set"] == mask_set) & (paired["comparison"] == METHODS)]
    columns, tables = [*buckets, ALL], []
    for metric in [m for m in captions.METRICS if m in set(part["metric"])]:
        rows = part[part["metric"] == metric]
        cells = {(r.a, r.b, r.bucket): r for r in rows.itertuples()}
        groups = {}
        for a, b in dict.fromkeys(zip(rows["a"], rows["b"])):
            learned = specs[b.split(" / ")[0]]["kind"] == "learned"
            group = "learned − learned" if learned else "learned − baseline"
            groups.setdefault(group, []).append(
                ([a, b], [cell_text(cells.get((a, b, c))) for c in columns]))
        tables.append(Table(mask_set, f"compare-{metric}",
                            f"A − B: {captions.header(metric)}", _headers(rows, columns),
                            list(groups.items()),
                            _reasons(rows),
                            keys=["A", "B"], group="pair"))
    return tables


def to_csv(paired: pd.DataFrame) -> str:
    """Raw (unscaled) differences; missing numbers are empty fields."""
    return paired[COLUMNS].to_csv(index=False, na_rep="", lineterminator="\n")
