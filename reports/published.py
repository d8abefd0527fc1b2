"""Reported vs reproduced: the figures a method's publisher reports (methods/<id>/reported.yaml)
beside the harness's own 'all' cells for the same dataset and mask kind, with every protocol
difference the file records. They are never the same measurement, and the block says so."""
import json
from html import escape
from pathlib import Path

import pandas as pd
from safetensors import safe_open

from methods import import_weights
from reports import captions
from reports.stats import ALL
from reports.tables import format_cell, format_number

NOT_THE_SAME = ("Published figures are not the same measurement as the harness's: the "
                "protocols differ as listed, so a gap between the two rows is not a "
                "reproduction error by itself, and agreement does not make them comparable.")


def mask_kind(definition: dict) -> str:
    """The spec's mask kinds: a centre box, or free-form / irregular holes (ours or NVIDIA's)."""
    return "box" if definition.get("kind") == "box" else "irregular"


def matching(specs: dict, dataset: str, kind: str) -> list[tuple[str, dict]]:
    """(method, entry) for each reported entry of the scored methods on this dataset and kind;
    a metric the report does not know is an error naming the spec."""
    found = []
    for method, spec in specs.items():
        for entry in spec.get("reported", []):
            unknown = set(entry["values"]) - set(captions.METRICS)
            if unknown:
                raise ValueError(f"methods/{method}/reported.yaml: values name unknown "
                                 f"metrics {sorted(unknown)}; use {list(captions.METRICS)}")
            if entry["dataset"] == dataset and entry["masks"] == kind:
                found.append((method, entry))
    return found


def recorded(specs: dict) -> str:
    listed = [f"{method}: " + ", ".join(f"{e['dataset']} {e['masks']}" for e in spec["reported"])
              for method, spec in specs.items() if spec.get("reported")]
    return "; ".join(listed) if listed else "none"


def _rows(method: str, entry: dict, summary: pd.DataFrame, mask_set: str) -> list[list[str]]:
    metrics = [m for m in captions.METRICS if m in entry["values"]]
    rows = [["published", entry["source"]] + [format_number(
        entry["values"][m] / captions.METRICS[m]["scale"], m) for m in metrics]]
    mine = summary[(summary["mask_set"] == mask_set) & (summary["method"] == method)
                   & (summary["bucket"] == ALL)]
    for key, part in mine.groupby(["framework", "weights"], sort=True):
        cells = {r.metric: r for r in part.itertuples()}
        rows.append([f"this harness: {method} / {' / '.join(key)}", f"mask set {mask_set}, "
                     "'all' column"] + [format_cell(cells.get(m), m, True) for m in metrics])
    return rows


def section(specs: dict, dataset: str, mask_set: str, definition: dict,
            summary: pd.DataFrame) -> tuple[str, list[str]]:
    """(HTML, Markdown lines) of the reported-vs-reproduced block of one mask set."""
    kind = mask_kind(definition)
    found = matching(specs, dataset, kind)
    title = "Reported vs reproduced"
    if not found:
        text = (f"No published figure is recorded for dataset {dataset} with {kind} masks "
                f"(recorded in methods/<id>/reported.yaml: {recorded(specs)}).")
        return (f'<h3>{title}</h3><p class="note">{escape(text)}</p>',
                [f"### {mask_set}: {title}", "", text, ""])
    html, md = [f"<h3>{title}</h3>", f'<p class="note"><strong>{escape(NOT_THE_SAME)}'
                "</strong></p>"], [f"### {mask_set}: {title}", "", NOT_THE_SAME, ""]
    for method, entry in found:
        metrics = [m for m in captions.METRICS if m in entry["values"]]
        head = ["row", "source / cells", *(captions.header(m) for m in metrics)]
        rows = _rows(method, entry, summary, mask_set)
        html.append(f"<h4>{escape(method)}: {escape(entry['test_set'])}, "
                    f"{entry['resolution']} px, {kind} masks</h4><div class=\"scroll\"><table>"
                    "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head)
                    + "</tr></thead><tbody>" + "".join(
                        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                        for row in rows) + "</tbody></table></div>"
                    + '<ul class="note">' + "".join(f"<li>{escape(d)}</li>"
                                                    for d in entry["differences"]) + "</ul>")
        md += [f"#### {method}: {entry['test_set']}, {entry['resolution']} px, {kind} masks", "",
               "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        md += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        md += [""] + [f"- {d}" for d in entry["differences"]] + [""]
    return "".join(html), md


def checkpoint_path(run) -> Path:
    """The imported checkpoint a published-<source> run scored (rules/train.smk
    import_published)."""
    return (run.root / "published" / run.dataset / run.method
            / import_weights.source_of(run.weights) / "weights.safetensors")


def release_origin(run) -> dict:
    """The release a published run's checkpoint was imported from, as its metadata records
    it (methods/import_weights.py): name, url, source and {file: sha256}."""
    path = checkpoint_path(run)
    with safe_open(str(path), framework="numpy") as f:
        record = json.loads((f.metadata() or {}).get("harness", "{}"))
    if record.get("weights") != run.weights or "origin" not in record:
        raise ValueError(f"{path}: not an imported release of {run.weights} (no 'origin' in its "
                         "metadata, or another release's): delete it and run the workflow again")
    return record["origin"]


def is_published(run) -> bool:
    return import_weights.source_of(run.weights) is not None


def weights_notes(runs, specs: dict, methods_dir: Path) -> tuple[list[str], list[str]]:
    """(notes on the published rows the tables hold, to go with every table; notes on the
    learned methods' releases that are not scored, for the page: 'published weights: not
    provided' and where to get them, or why a release is refused)."""
    dataset, scored, missing = runs[0].dataset, [], []
    for method in dict.fromkeys(run.method for run in runs):
        if specs[method]["kind"] != "learned":
            continue
        releases = {import_weights.variant(r): r
                    for r in import_weights.releases_for(method, dataset, methods_dir)}
        published = {run.weights: run for run in runs
                     if run.method == method and is_published(run)}
        for weights, run in published.items():
            if weights not in releases or "refused" in releases[weights]:
                raise ValueError(f"{checkpoint_path(run)} was imported, but methods/{method}/"
                                 f"published.yaml no longer lists an importable release trained "
                                 f"on {dataset} from {import_weights.source_of(weights)}: "
                                 "delete it and run the workflow again")
            release, origin = releases[weights], release_origin(run)
            files = "; ".join(f"{f} (sha256 {d})" for f, d in origin["files"].items())
            unchecked = [f for f in origin["files"] if f not in origin.get("pins", {})]
            if origin.get("pins") and unchecked:
                files += f" (its publisher gave no digest of {', '.join(unchecked)})"
            if "unpinned" in origin:
                files += (f" (unpinned: {origin['unpinned']}; so these digests are the files' "
                          "as imported, checked against none)")
            scored.append(f"{method} ({weights}) is {origin['name']} ({origin['url']}), "
                          f"imported from {files} by the exact mapping of methods/{method}/"
                          f"published.py and never trained here; how its "
                          f"training differs from this harness's protocol: "
                          f"{' '.join(release['differences'])}")
        for weights, release in releases.items():
            if "refused" in release:
                missing.append(f"{method}: {weights}: refused ({release['name']}, "
                               f"{', '.join(release['files'])}, is {release['architecture']}; "
                               f"{release['refused']}).")
            elif weights not in published:
                missing.append(f"{method}: {weights}: published weights: not provided "
                               f"({release['name']}: put {', '.join(release['files'])} from "
                               f"{release['url']} under configs/config.yaml "
                               "published_weights_dir to score it).")
        if not releases:
            missing.append(f"{method}: published weights: not provided (no release trained "
                           f"on {dataset} is listed in methods/{method}/published.yaml).")
    return scored, missing
