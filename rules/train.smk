# Learned methods: weights.safetensors (framework-neutral), resolved.yaml and log.jsonl per
# dataset x method x framework. A run killed midway (or at a cluster's time limit) resumes from
# its last checkpoint when run again; log.jsonl is not a declared output because Snakemake would
# delete it before the resumed job. With GPUs (GPUS, rules/common.smk) a job asks for
# train_gpus of them and trains on as many data-parallel ranks, each drawing its batches in up
# to train_workers processes: train_workers + 1 threads per GPU, fewer where --cores gives
# each of the GPUS fewer cores. Without GPUs it trains on the CPU in one thread and one process.
from methods.train import resolve_settings

CORES_PER_GPU = devices.cores_per_gpu(workflow.global_resources, GPUS)  # None: no bound


def train_gpus(wildcards):
    """GPUs of one training job (0 without GPUs); refused before any job runs when they do not
    split the method's batch or exceed the workflow's GPUs."""
    if not GPUS:
        return 0
    count, source = config["train_gpus"], "configs/config.yaml train_gpus"
    batch = resolve_settings(METHODS[wildcards.method], training_overrides(wildcards),
                             source)[1]["batch_size"]
    if count > GPUS or batch % count:
        raise WorkflowError(f"{source}: {count} GPUs per training job, but the workflow may hold "
                            f"{GPUS} at once and {wildcards.method}'s batch_size is {batch}: "
                            "give a number of GPUs that divides every learned method's batch")
    return count


def train_threads(wildcards):
    """Threads of one training job: per GPU, its rank and its workers."""
    if not GPUS:
        return 1
    per_gpu = min(config["train_workers"] + 1, CORES_PER_GPU or config["train_workers"] + 1)
    return per_gpu * train_gpus(wildcards)


def train_priority(wildcards):
    """Longer trainings start first, so that short jobs fill the cores at the end instead of
    the longest training running alone there: the run's samples (steps x batch_size), doubled
    for paddle on the CPU, whose steps take about twice torch's (benchmarks/paddle_ops.py:
    its CPU convolutions). Every other job has priority 0, so trainings start before them."""
    settings = resolve_settings(METHODS[wildcards.method], training_overrides(wildcards),
                                "configs/config.yaml training")[1]
    paddle_on_cpu = wildcards.framework == "paddle" and not GPUS
    return settings["steps"] * settings["batch_size"] * (2 if paddle_on_cpu else 1)


def feed_options(wildcards):
    ranks = max(1, train_gpus(wildcards))
    return f"--workers {train_threads(wildcards) // ranks - 1} --ranks {ranks}"


rule train:
    input:
        method_sources,
        data="results/data/{dataset}/train/manifest.tsv",
    output:
        weights="results/train/{dataset}/{method}/{framework}/weights.safetensors",
        resolved="results/train/{dataset}/{method}/{framework}/resolved.yaml",
    params:
        overrides=lambda wildcards: json.dumps(training_overrides(wildcards)),
        backbones=backbone_options,
        seed=config["seed"],
        feed=lambda wildcards: feed_options(wildcards),
    threads: train_threads
    priority: train_priority
    resources:
        gpu=train_gpus,
    log:
        "results/logs/train/{dataset}/{method}/{framework}.log",
    shell:
        "python -m methods.gpu_slots {resources.gpu} -- "
        "python -m methods.train --method {wildcards.method} --framework {wildcards.framework} "
        "--data $(dirname {input.data}) --out $(dirname {output.weights}) --seed {params.seed} "
        "--overrides {params.overrides:q} {params.backbones} {params.feed} 2> {log}"


def released_files(wildcards):
    """The files of a method's release for a dataset, under published_weights_dir."""
    release = import_weights.release_for(wildcards.method, wildcards.dataset, wildcards.source)
    if release is None or config["published_weights_dir"] is None:
        raise WorkflowError(f"no released weights of {wildcards.method} for "
                            f"{wildcards.dataset} from {wildcards.source}: methods/"
                            f"{wildcards.method}/published.yaml and configs/config.yaml "
                            "published_weights_dir name them")
    return [str(Path(config["published_weights_dir"]) / f) for f in release["files"]]


# Released weights (weights: published-<source>) imported into the neutral checkpoint both
# ports load: never trained, each file checked against the digest its publisher gave (or the
# report says it has none: methods/import_weights.py).
rule import_published:
    input:
        released_files,
        code=lambda wildcards: [f"methods/{wildcards.method}/published.py",
                                f"methods/{wildcards.method}/published.yaml",
                                "methods/import_weights.py", "methods/tf_bundle.py",
                                "methods/t7.py"],
    output:
        "results/published/{dataset}/{method}/{source}/weights.safetensors",
    params:
        folder=lambda wildcards: config["published_weights_dir"],
    log:
        "results/logs/published/{dataset}/{method}/{source}.log",
    shell:
        "python -m methods.import_weights --method {wildcards.method} "
        "--dataset {wildcards.dataset} --source {wildcards.source} --dir {params.folder:q} "
        "--out {output} 2> {log}"
