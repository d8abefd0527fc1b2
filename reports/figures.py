"""PNG figures: each metric against hole ratio, and the qualitative grid's images."""
import io
import math

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from datasets.io import png_bytes

from reports import captions
from reports.inputs import load_hole, load_rgb
from reports.stats import ALL, SET_METRICS
from reports.tables import ROW_KEY

# Magenta almost never occurs in photographs, so the hole cannot be mistaken for content.
HOLE_COLOUR = (255, 0, 255)


def figure_png(figure: Figure) -> bytes:
    # An explicit Agg canvas: no pyplot state, no display backend, same output headless.
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def metric_plot(part: pd.DataFrame, positions: dict[str, float], metric: str, mask_set: str,
                rows: list[tuple]) -> tuple[bytes | None, list[str]]:
    """Mean (with interval bars, except set metrics) against the bucket's hole-ratio position,
    one line per method x framework x weights. rows: every row key of the report in table
    order; a row keeps its colour across all plots. Returns the PNG (None when nothing finite
    is left to draw) and the rows with points left out because their means are infinite."""
    info = captions.METRICS[metric]
    usable = part[(part["status"] == "ok") & (part["bucket"] != ALL)]
    usable = usable.assign(x=usable["bucket"].map(positions))
    figure = Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    omitted = []
    for index, key in enumerate(rows):
        points = usable[(usable[ROW_KEY] == list(key)).all(axis=1)].sort_values("x")
        finite = points[np.isfinite(points["mean"])]
        if len(finite) < len(points):
            omitted.append(" / ".join(key))
        if finite.empty:
            continue
        mean = finite["mean"].to_numpy() * info["scale"]
        errors = None
        if metric not in SET_METRICS:
            errors = np.vstack([mean - finite["ci_low"].to_numpy() * info["scale"],
                                finite["ci_high"].to_numpy() * info["scale"] - mean])
        axes.errorbar(finite["x"].to_numpy(), mean, yerr=errors, marker="o", capsize=3,
                      color=f"C{index % 10}", label=" / ".join(key))
    if not axes.lines:
        return None, omitted
    axes.set_xlabel("hole ratio (bucket midpoint)")
    axes.set_ylabel(f"{info['label']} ({info['unit']})")
    axes.set_title(f"{mask_set}: {info['label']}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    return figure_png(figure), omitted


def masked_input(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    shown = image.copy()
    shown[hole] = HOLE_COLOUR
    return shown


def grid_images(picks: pd.DataFrame, image_files: dict, mask_files: dict,
                prediction_dirs: list[tuple]) -> list[tuple[str, list[bytes]]]:
    """Per picked item: masked input, each run's composited prediction, ground truth, as PNG
    bytes with a row caption. prediction_dirs: (folder, {item: file}) per run, in order."""
    rows = []
    for pick in picks.itertuples():
        image = load_rgb(image_files[pick.image_id])
        hole = load_hole(mask_files[pick.mask_id])
        if hole.shape != image.shape[:2]:
            raise ValueError(f"mask {pick.mask_id} is {hole.shape}, image {pick.image_id} is "
                             f"{image.shape[:2]}")
        cells = [png_bytes(masked_input(image, hole))]
        for folder, files in prediction_dirs:
            cells.append(png_bytes(load_rgb(folder / files[pick.item])))
        cells.append(png_bytes(image))
        ratio = "" if math.isnan(pick.hole_ratio) else f", hole ratio {pick.hole_ratio:.3f}"
        rows.append((f"item {pick.item}: image {pick.image_id}, mask {pick.mask_id}, "
                     f"bucket {pick.bucket}{ratio}", cells))
    return rows
