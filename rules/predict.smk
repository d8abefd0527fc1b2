# Threads of a GPU-side evaluation job (PNG decode and encode around the GPU), at most --cores
# over the GPUs on one machine (rules/train.smk CORES_PER_GPU). Without GPUs (GPUS,
# rules/common.smk) they get 1, as every other CPU job: more would also change paddle's float32
# CPU kernels' rounding (OMP_NUM_THREADS follows threads).
EVAL_THREADS = min(config["eval_threads"], CORES_PER_GPU or config["eval_threads"]) if GPUS else 1


# Sizing: how many items each bucket holds (experiments' items_per_bucket, datasets/pairing.py).
def sizing(dataset, mask_set):
    """items_per_bucket of the experiments that evaluate dataset on mask_set (None: the whole
    split). Such experiments share results/pairs|predict|score/{dataset}/{mask_set}/, so they
    must agree; this is checked for every experiment before any job runs."""
    values = {exp.get("items_per_bucket") for exp in config["experiments"].values()
              if exp["dataset"] == dataset and mask_set in exp["mask_sets"]}
    if len(values) > 1:
        raise WorkflowError(
            f"configs/config.yaml: the experiments that evaluate dataset '{dataset}' on mask set "
            f"'{mask_set}' give different items_per_bucket {sorted(values, key=str)}; they share "
            f"results/predict/{dataset}/{mask_set}/, so give them one value")
    return next(iter(values), None)


def sizing_option(dataset, mask_set):
    items = sizing(dataset, mask_set)
    return "" if items is None else f"--items-per-bucket {items}"


def log_sizing(name):
    """Say what an experiment will predict and score before it runs (a dry run shows it)."""
    exp = config["experiments"][name]
    for mask_set in exp["mask_sets"]:
        items = sizing(exp["dataset"], mask_set)
        buckets = 1 if MASK_SETS[mask_set]["kind"] == "box" else len(LABELS)
        each = f"{items:,} items" if items else "every test image (max(masks, images) items)"
        total = f" = {items * buckets:,} items x {len(runs(name))} runs" if items else ""
        logger.info(f"experiment {name}: {mask_set}: {each} in each of {buckets} "
                    f"bucket(s){total}; rule: {pairing.describe(items)}")


def learned(wildcards):
    return METHODS[wildcards.method]["kind"] == "learned"


for _exp in config["experiments"].values():
    for _mask_set in _exp["mask_sets"]:
        sizing(_exp["dataset"], _mask_set)


# The recorded (image, mask) pairs of one dataset x mask set (datasets/pairing.py; the
# experiments' items_per_bucket), shared by every method's predictions and by the FID reference.
rule pairs:
    input:
        images="results/data/{dataset}/test/manifest.tsv",
        masks="results/masks/{mask_set}/manifest.tsv",
    output:
        "results/pairs/{dataset}/{mask_set}.tsv",
    params:
        sizing=lambda wildcards: sizing_option(wildcards.dataset, wildcards.mask_set),
    log:
        "results/logs/pairs/{dataset}/{mask_set}.log",
    shell:
        "python -m datasets.pairing --images $(dirname {input.images}) "
        "--masks $(dirname {input.masks}) {params.sizing} --out {output} 2> {log}"


# Composited predictions of one method x framework x weights on one dataset x mask set. Learned
# methods run on a GPU where there are GPUs (gpu=1), reading and writing PNGs in `threads` threads.
rule predict:
    input:
        method_sources,
        unpack(trained_weights),
        images="results/data/{dataset}/test/manifest.tsv",
        masks="results/masks/{mask_set}/manifest.tsv",
        pairs="results/pairs/{dataset}/{mask_set}.tsv",
    output:
        "results/predict/{dataset}/{mask_set}/{method}/{framework}/{weights}/predictions.tsv",
        "results/predict/{dataset}/{mask_set}/{method}/{framework}/{weights}/provenance.json",
    params:
        options=f"--batch-size {config['batch_size']} "
        f"--gpu-batch-size {config['gpu_batch_size']} "
        f"--png-compress-level {config['png_compress_level']}",
        inference=lambda wildcards: json.dumps(inference_overrides(wildcards)),
        checkpoint=lambda wildcards, input: (
            f"--checkpoint {input.checkpoint}" if "checkpoint" in input.keys() else ""),
    threads: lambda wildcards: EVAL_THREADS if learned(wildcards) else 1
    resources:
        gpu=lambda wildcards: int(learned(wildcards) and GPUS > 0),
    log:
        "results/logs/predict/{dataset}/{mask_set}/{method}/{framework}/{weights}.log",
    shell:
        "python -m methods.gpu_slots {resources.gpu} -- "
        "python -m methods.predict --method {wildcards.method} "
        "--framework {wildcards.framework} --weights {wildcards.weights} "
        "--images results/data/{wildcards.dataset}/test "
        "--masks results/masks/{wildcards.mask_set} --pairs {input.pairs} {params.options} "
        "--threads {threads} {params.checkpoint} --inference {params.inference:q} "
        "--out results/predict/{wildcards.dataset}/{wildcards.mask_set}/{wildcards.method}/"
        "{wildcards.framework}/{wildcards.weights} 2> {log}"
