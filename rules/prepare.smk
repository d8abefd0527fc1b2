# Prepared images: results/data/{dataset}/ with train/ (PNG copies, or a manifest of the sources
# read in place) and test/ (PNGs), a manifest.tsv per split and dataset.json (counts, split and
# crop rule, subset); datasets/store.py.
def dataset_inputs(wildcards):
    """Input function of the prepare rule: fails fast, naming the folder, if data is missing."""
    try:
        root = require(wildcards.dataset, config)
    except DatasetMissing as err:
        raise WorkflowError(str(err))
    return [] if root is None else [str(root)]


def prepare_options(wildcards):
    """Flags of the prepare CLI from configs/config.yaml `datasets.<name>` (datasets/prepare.py)."""
    if wildcards.dataset == "demo":
        return ""
    options = settings(wildcards.dataset, config)
    return (f"--root {shlex.quote(str(options['root']))} --resolution {options['resolution']} "
            f"--split {options['split']}" + (" --allow-subset" if options["allow_subset"] else ""))


rule prepare:
    input:
        dataset_inputs,
    output:
        train="results/data/{dataset}/train/manifest.tsv",
        test="results/data/{dataset}/test/manifest.tsv",
        record="results/data/{dataset}/dataset.json",
    params:
        options=prepare_options,
    threads: 8
    log:
        "results/logs/prepare/{dataset}.log",
    shell:
        "python -m datasets.prepare --dataset {wildcards.dataset} {params.options} "
        "--workers {threads} --out results/data/{wildcards.dataset} 2> {log}"
