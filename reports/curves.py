"""Training curves: each retrained run's losses from its log.jsonl (methods/loop.py writes one
record per step), the torch and paddle runs of a method overlaid on the same step axis."""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from datasets.io import atomic_write_bytes
from reports.figures import figure_png

MAX_POINTS = 500  # a 1,000,000-step log is drawn as 500 window means per curve
STYLES = {"torch": dict(color="C0", linestyle="-"), "paddle": dict(color="C1", linestyle="--")}


def read_log(path: Path) -> pd.DataFrame:
    """The records of a finished run's log.jsonl, one row per step. A finished run's log has
    no cut line, so any line that is not a JSON record is an error naming it."""
    records = []
    with open(path) as lines:
        for number, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValueError(f"{path}: line {number} is not a JSON record; the training "
                                 "log of a finished run must be whole") from None
    if not records or any("step" not in record for record in records):
        raise ValueError(f"{path}: expected one JSON record with a 'step' per training step")
    return pd.DataFrame(records).sort_values("step", kind="stable").reset_index(drop=True)


def loss_terms(log: pd.DataFrame) -> list[str]:
    """The fields written as floats (losses); integer fields (step, stage, phase) are markers."""
    return [c for c in log.columns if c != "step" and log[c].map(
        lambda v: isinstance(v, float) or v is None).all() and log[c].notna().any()]


def markers(log: pd.DataFrame) -> list[str]:
    return [c for c in log.columns if c != "step" and c not in loss_terms(log)
            and pd.api.types.is_integer_dtype(log[c])]


def window_means(log: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, int]:
    """(means of `columns` and of the step over windows of k consecutive records, k) with
    k = ceil(records / MAX_POINTS); k = 1 draws every step."""
    k = max(1, math.ceil(len(log) / MAX_POINTS))
    window = np.arange(len(log)) // k
    return log[["step", *columns]].groupby(window).mean(), k


def curve_png(method: str, logs: dict[str, pd.DataFrame]) -> tuple[bytes, int]:
    """One panel per loss term; returns the PNG and the largest window k used."""
    terms = list(dict.fromkeys(t for log in logs.values() for t in loss_terms(log)))
    cols = min(3, len(terms))
    rows = math.ceil(len(terms) / cols)
    figure = Figure(figsize=(3.6 * cols, 2.6 * rows + 0.4), dpi=100, layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    largest = 1
    for panel, term in zip(axes, terms):
        for framework, log in logs.items():
            if term not in log.columns:
                continue
            means, k = window_means(log, [term])
            largest = max(largest, k)
            panel.plot(means["step"], means[term], label=framework, linewidth=1,
                       **STYLES.get(framework, {}))
        first = next(iter(logs.values()))
        for marker in markers(first):
            for step in first.loc[first[marker].diff().fillna(0) != 0, "step"]:
                panel.axvline(step, color="grey", linestyle=":", linewidth=0.8)
        panel.set_title(term, fontsize=9)
        panel.set_xlabel("step", fontsize=8)
        panel.tick_params(labelsize=7)
        panel.grid(alpha=0.3)
        panel.legend(fontsize=7)
    for panel in axes[len(terms):]:
        panel.set_visible(False)
    figure.suptitle(f"{method}: training losses", fontsize=10)
    return figure_png(figure), largest


def curves(runs: list, folder: Path) -> list[tuple[str, bytes, str]]:
    """(method, PNG, caption) per retrained method, the PNG also written to
    folder/curves_<method>.png. runs: reports.inputs.Run, any mask set."""
    logs = {}
    for run in runs:
        if run.weights == "retrained":
            path = run.resolved.parent / "log.jsonl"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: the training log of {run.label} is missing")
            logs.setdefault(run.method, {})[run.framework] = path
    drawn = []
    for method, paths in logs.items():
        frames = {framework: read_log(path) for framework, path in sorted(
            paths.items(), key=lambda item: list(STYLES).index(item[0])
            if item[0] in STYLES else len(STYLES))}
        png, k = curve_png(method, frames)
        atomic_write_bytes(folder / f"curves_{method}.png", png)
        steps = ", ".join(f"{fw} {len(frame):,} steps" for fw, frame in frames.items())
        caption = (f"{method}: every float field of log.jsonl against the step ({steps}); "
                   + ("one point per step" if k == 1 else f"each point is the mean of {k} "
                      "consecutive steps") + "; torch solid, paddle dashed; dotted verticals: "
                   "a change of stage or phase (the log's integer fields).")
        drawn.append((method, png, caption))
    return drawn
