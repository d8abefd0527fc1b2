"""Build one experiment's report: reports/{experiment}.html (self-contained) and, beside it,
reports/{experiment}/ with the same tables as CSV, Markdown and LaTeX, and the plots as PNG.

    python -m reports.build --experiment demo --config configs/config.yaml \\
        --mask-sets configs/mask_sets.yaml --scores results/score/demo/*/*/*/*.tsv \\
        --out reports/demo.html
"""
import argparse
import json
import sys
from html import escape
from pathlib import Path

import yaml
from snakemake.utils import update_config

from datasets import pairing
from datasets.io import atomic_write_bytes, atomic_write_text
from reports import (captions, curves, figures, inputs, page, paired, paired_tables,
                     provenance, published, tables)
from reports.stats import bucket_positions, check_unique, summarise


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reports.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", required=True, help="a key of experiments: in --config")
    parser.add_argument("--config", required=True, nargs="+", type=Path,
                        help="configs/config.yaml, then any --configfile given to snakemake, "
                        "merged in order as Snakemake merges them")
    parser.add_argument("--mask-sets", required=True, type=Path)
    parser.add_argument("--scores", required=True, nargs="+", type=Path,
                        help=".../score/{dataset}/{mask_set}/{method}/{framework}/{weights}.tsv")
    parser.add_argument("--out", required=True, type=Path, help="reports/{experiment}.html")
    parser.add_argument("--methods-dir", default=Path("methods"), type=Path,
                        help="folder of <method>/spec.yaml (default: methods)")
    return parser.parse_args(argv)


def run_order(run: inputs.Run, specs: dict) -> tuple:
    """Same order as the table rows: controls, classical, learned; then by name."""
    return (tables.kind_rank(specs[run.method]["kind"]), run.method, run.framework, run.weights)


def ordered_metrics(summary, mask_set: str) -> list[str]:
    present = set(summary.loc[summary["mask_set"] == mask_set, "metric"])
    unknown = present - set(captions.METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}: describe them in reports/captions.py")
    return [metric for metric in captions.METRICS if metric in present]


def plot_section(summary, mask_set: str, metrics: list[str], positions: dict,
                 rows: list[tuple], folder: Path) -> str:
    """Metric-against-hole-ratio plots, written beside the tables and returned as HTML."""
    plots = []
    for metric in metrics:
        part = summary[(summary["mask_set"] == mask_set) & (summary["metric"] == metric)]
        png, omitted = figures.metric_plot(part, positions, metric, mask_set, rows)
        if png is not None:
            atomic_write_bytes(folder / f"{mask_set}_{metric}.png", png)
            plots.append((metric, png, omitted))
    return page.plots_html(plots)


def grid_section(runs: list[inputs.Run], buckets: list[str]) -> str:
    predictions = inputs.load_predictions(runs)
    picks = inputs.pick_items(predictions[0], buckets)
    root, dataset, mask_set = runs[0].root, runs[0].dataset, runs[0].mask_set
    image_files = inputs.id_files(root / "data" / dataset / "test" / "manifest.tsv")
    mask_files = inputs.id_files(root / "masks" / mask_set / "manifest.tsv")
    dirs = [(run.predictions.parent, dict(zip(table["item"], table["file"])))
            for run, table in zip(runs, predictions)]
    rows = figures.grid_images(picks, image_files, mask_files, dirs)
    return page.grid_html([run.label for run in runs], rows)


def data_notes(record: dict) -> list[str]:
    """A cited table must say when it was computed on part of a dataset or off its split."""
    notes = [f"Data: {record['subset']} of dataset {record['dataset']}."] if record.get(
        "subset") else []
    if record["split"].startswith("NOT"):
        notes.append(f"Split: {record['split']}")
    return notes


def mask_set_report(mask_set: str, runs: list[inputs.Run], scores, summary, pairs, config: dict,
                    definition: dict, folder: Path, specs: dict, record: dict,
                    items: str, imported: list[str]) -> str:
    """Tables, agreement, comparisons, published figures, plots and grid of one mask set, as
    HTML; the same tables also as Markdown and LaTeX. Notes shared by every table (items, data,
    the rows' deviations) are stated once on the page (the deviations in Methods, which the
    tables link to) and once per Markdown file; LaTeX captions repeat them, since a cited
    table must stand alone."""
    samples, seed = int(config["bootstrap_samples"]), int(config["seed"])
    positions = bucket_positions(scores[scores["mask_set"] == mask_set])
    buckets = sorted(positions, key=lambda b: (positions[b], b))
    metrics = ordered_metrics(summary, mask_set)
    built = [tables.build_table(summary, mask_set, metric, buckets) for metric in metrics]
    shared = [items] + data_notes(record)
    deviations = training_notes(runs) + imported + inference_notes(runs, specs)
    agreement = paired_tables.agreement_table(pairs, mask_set, buckets, samples, seed)
    verdicts = paired_tables.verdicts(pairs, mask_set)
    compared = paired_tables.comparison_tables(pairs, mask_set, buckets, specs)
    reported_html, reported_md = published.section(specs, runs[0].dataset, mask_set, definition,
                                                   summary)
    general = captions.general_notes(samples, seed)
    markdown = tables.to_markdown(mask_set, built, general + shared + deviations)
    markdown += paired_markdown(mask_set, agreement, verdicts, compared, samples, seed)
    atomic_write_text(folder / f"{mask_set}.md", markdown + "\n".join(reported_md))
    latex = [agreement] if agreement else []
    atomic_write_text(folder / f"{mask_set}.tex", tables.to_latex(
        built + latex + compared, samples, shared + deviations,
        {t.metric: captions.comparison_note(samples, seed) for t in compared}))
    rows = [(run.method, run.framework, run.weights) for run in runs]
    plots = (plot_section(summary, mask_set, metrics, positions, rows, folder)
             if len(buckets) > 1 else "")
    links = {run.method: f"#method-{run.method}" for run in runs}
    return page.mask_set_section(
        mask_set, definition, general + shared + [page.DEVIATIONS_ONCE], built, links,
        page.paired_html(mask_set, agreement, verdicts, compared,
                         captions.comparison_note(samples, seed))
        + reported_html + plots, grid_section(runs, buckets))


def paired_markdown(mask_set, agreement, verdicts, compared, samples, seed) -> str:
    """The agreement table with its verdicts, then the comparisons under their one caption."""
    text = ""
    if agreement:
        text += tables.to_markdown(mask_set, [agreement], verdicts, heading=False)
    if compared:
        text += tables.to_markdown(mask_set, compared, [captions.comparison_note(samples, seed)],
                                   heading=False)
    return text


def merged_config(paths: list[Path]) -> dict:
    """The configuration Snakemake ran with: later files override earlier ones, key by key
    within nested mappings, by Snakemake's own merge."""
    config: dict = {}
    for path in paths:
        update_config(config, yaml.safe_load(path.read_text()) or {})
    return config


def dataset_note(record: dict) -> str:
    """What the tables were computed on, from the prepare stage's dataset.json."""
    counts = ", ".join(f"{split} {n:,}" for split, n in record["counts"].items())
    subset = (f' <strong>{escape(record["subset"])}</strong> (allow_subset: true).'
              if record.get("subset") else "")
    return (f"<p>Data: <code>{escape(record['dataset'])}</code> at {record['resolution']} px "
            f"({escape(record['crop'])}); images per split: {counts}.{subset} Split: "
            f"{escape(record['split'])}</p>")


def intro_section(name: str, experiment: dict, mask_sets: list[str], runs: list,
                  folder: Path, record: dict) -> str:
    files = ["summary.csv", "paired.csv (agreement and comparisons)"] + [
        f"{m}.{ext}" for m in mask_sets for ext in ("md", "tex")]
    return (f"<p>Experiment <code>{escape(name)}</code>: dataset "
            f"<code>{escape(experiment['dataset'])}</code>, mask sets "
            f"{escape(', '.join(mask_sets))}; {len(runs)} score tables.</p>"
            + dataset_note(record) +
            '<p class="note">The same tables as CSV (raw, unscaled values), Markdown and LaTeX '
            f"(booktabs), and the plots as PNG, are in {escape(str(folder))}/: "
            f"{escape(', '.join(files))}.</p>")


def recorded_deviations(runs: list[inputs.Run]) -> dict[str, dict[str, list[str]]]:
    """{method: {deviation recorded by its training runs: [frameworks]}}, each run once."""
    recorded, seen = {}, set()
    for run in runs:
        if (run.method, run.framework, run.weights) in seen:
            continue
        seen.add((run.method, run.framework, run.weights))
        for deviation in inputs.training_deviations(run):
            recorded.setdefault(run.method, {}).setdefault(deviation, []).append(run.framework)
    return recorded


def training_notes(runs: list[inputs.Run]) -> list[str]:
    """One note per retrained method, for every table its rows appear in."""
    notes = []
    for method, deviations in recorded_deviations(runs).items():
        frameworks = sorted({fw for fws in deviations.values() for fw in fws})
        notes.append(f"{method} ({', '.join(frameworks)}, retrained) was trained with recorded "
                     f"deviations from its paper: {'; '.join(deviations)}.")
    return notes


def describe_options(options: dict, defaults: dict) -> str:
    return ", ".join(f"{key}: {json.dumps(value)}" + (
        f" (spec default {json.dumps(defaults[key])})" if value != defaults.get(key) else "")
        for key, value in sorted(options.items()))


def inference_notes(runs: list[inputs.Run], specs: dict) -> list[str]:
    """One note per method with inference options (e.g. GLCIC's post-processing) and per
    distinct choice of them, naming the frameworks that used it."""
    used = {}
    for run in runs:
        options = inputs.inference_options(run, specs[run.method])
        if options:
            key = (run.method, describe_options(options, specs[run.method]["inference"]))
            used.setdefault(key, set()).add(f"{run.framework}, {run.weights}")
    return [f"{method} ({'; '.join(sorted(labels))}) was predicted with inference options: "
            f"{text} (methods/{method}/spec.yaml and README.md say what they do)."
            for (method, text), labels in used.items()]


def methods_rows(runs: list[inputs.Run], specs: dict) -> list[tuple[str, dict, list[str]]]:
    """(method, spec with its training runs' deviations appended, framework / weights scored)
    in table-row order; a deviation shared by several frameworks' runs is listed once."""
    rows = {}
    for run in sorted(runs, key=lambda r: run_order(r, specs)):
        scored = rows.setdefault(run.method, (run.method, specs[run.method], []))[2]
        if f"{run.framework} / {run.weights}" not in scored:
            scored.append(f"{run.framework} / {run.weights}")
    recorded = recorded_deviations(runs)
    for method, (_, spec, scored) in rows.items():
        extra = [f"{', '.join(fws)} training run{'s' if len(fws) > 1 else ''}: {text}"
                 for text, fws in recorded.get(method, {}).items()]
        rows[method] = (method, {**spec, "deviations": list(spec["deviations"]) + extra}, scored)
    return list(rows.values())


def training_record(run: inputs.Run) -> str:
    """Checkpoint digest and the settings that made it, from the run's resolved.yaml."""
    resolved = yaml.safe_load(run.resolved.read_text())
    weights = run.resolved.parent / "weights.safetensors"
    return "\n".join([f"weights.safetensors sha256: {provenance.sha256(weights)}",
                      f"seed: {resolved['seed']}, device: {resolved['device']}, "
                      f"steps: {resolved['training']['steps']}, "
                      f"seconds: {resolved.get('seconds')}, date: {resolved.get('date_utc')}",
                      f"git commit: {resolved.get('git_commit')}"])


def provenance_rows(args, config: dict, mask_defs: dict, runs: list, argv: list[str]) -> list:
    dataset = runs[0].dataset
    mask_sets = list(dict.fromkeys(run.mask_set for run in runs))
    seeds = [("config seed", str(config["seed"])),
             ("bootstrap resamples", str(config["bootstrap_samples"]))]
    seeds += [(f"mask set {m}", str(mask_defs.get(m, {}).get("seed", "none (deterministic)")))
              for m in mask_sets]
    digests = [(str(path), provenance.sha256(path)) for path in args.config]
    digests.append((str(args.mask_sets), provenance.sha256(args.mask_sets)))
    digests += [(f"masks/{m}/manifest.tsv", provenance.sha256(runs[0].root / "masks" / m /
                                                              "manifest.tsv"))
                for m in mask_sets]
    digests += [(f"pairs/{dataset}/{m}.tsv", provenance.sha256(runs[0].root / "pairs" / dataset /
                                                               f"{m}.tsv")) for m in mask_sets]
    digests += [(f"fid/{dataset}/{m}/stats.tsv", provenance.sha256(
        runs[0].root / "fid" / dataset / m / "stats.tsv")) for m in mask_sets]
    test_manifest = runs[0].root / "data" / dataset / "test" / "manifest.tsv"
    digests.append((f"data/{dataset}/test/manifest.tsv", provenance.sha256(test_manifest)))
    record = runs[0].root / "data" / dataset / "dataset.json"
    digests.append((f"data/{dataset}/dataset.json", provenance.sha256(record)))
    scored = [(f"{run.mask_set}: {run.label}",
               "\n".join([f"score table sha256: {provenance.sha256(run.path)}",
                          *provenance.score_provenance(run.provenance)]))
              for run in runs]
    trained = [(f"{run.method} / {run.framework}", training_record(run))
               for run in {r.resolved: r for r in runs if r.weights == "retrained"}.values()]
    imported = [(f"{run.method} / {run.weights}", "\n".join(
        [f"weights.safetensors sha256: {provenance.sha256(published.checkpoint_path(run))}"]
        + [f"{name} sha256: {digest}"
           for name, digest in published.release_origin(run)["files"].items()]))
        for run in {(r.method, r.weights): r for r in runs if published.is_published(r)}.values()]
    return [("Build", provenance.build_info(argv)), ("Software", provenance.versions()),
            ("Hardware", provenance.hardware()), ("Seeds", seeds),
            ("Digests (sha256)", digests), ("Training runs", trained),
            ("Imported weights", imported), ("Score runs", scored)]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    config = merged_config(args.config)
    mask_defs = yaml.safe_load(args.mask_sets.read_text())
    if args.experiment not in config["experiments"]:
        named = " + ".join(map(str, args.config))
        raise SystemExit(f"experiment '{args.experiment}' not in {named}")
    experiment = config["experiments"][args.experiment]
    runs = [inputs.parse_score_path(path) for path in args.scores]
    inputs.check_runs(runs, experiment, args.experiment)
    specs = inputs.load_specs(args.methods_dir, {run.method for run in runs})
    mask_sets = [m for m in experiment["mask_sets"] if any(r.mask_set == m for r in runs)]
    runs.sort(key=lambda run: (mask_sets.index(run.mask_set), *run_order(run, specs)))
    scores = inputs.load_scores(runs, specs)
    check_unique(scores)
    summary = summarise(scores, int(config["seed"]), int(config["bootstrap_samples"]))
    keys = list(dict.fromkeys((r.method, r.framework, r.weights) for r in runs))
    pairs = paired.paired(scores, specs, int(config["seed"]), int(config["bootstrap_samples"]),
                          mask_sets, keys)
    folder = args.out.parent / args.experiment
    imported, not_imported = published.weights_notes(runs, specs, args.methods_dir)
    record = json.loads((runs[0].root / "data" / runs[0].dataset / "dataset.json").read_text())
    sections = [intro_section(args.experiment, experiment, mask_sets, runs, folder, record),
                page.methods_section(methods_rows(runs, specs),
                                     imported + not_imported + inference_notes(runs, specs)),
                page.metrics_section(), page.curves_html(curves.curves(runs, folder))]
    sections += [mask_set_report(m, [r for r in runs if r.mask_set == m], scores, summary,
                                 pairs, config, mask_defs.get(m, {}), folder, specs, record,
                                 captions.items_note(pairing.describe(
                                     experiment.get("items_per_bucket"))), imported)
                 for m in mask_sets]
    csv = tables.to_csv(summary, mask_sets, bucket_positions(scores))
    atomic_write_text(folder / "summary.csv", csv)
    atomic_write_text(folder / "paired.csv", paired_tables.to_csv(pairs))
    sections.append(page.provenance_section(provenance_rows(args, config, mask_defs, runs, argv)))
    atomic_write_text(args.out, page.render(f"Inpainting benchmark: {args.experiment}",
                                            sections))


if __name__ == "__main__":
    main()
