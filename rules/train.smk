# Learned methods: weights.safetensors (framework-neutral), resolved.yaml and log.jsonl per
# dataset x method x framework. A run killed midway (or at a cluster's time limit) resumes from
# its last checkpoint when run again; log.jsonl is not a declared output because Snakemake would
# delete it before the resumed job. With GPUs (GPUS, rules/common.smk) a job asks for
# train_gpus of them, trains on that many data-parallel ranks and draws its batches in
# train_workers processes (methods/train.py); without, it trains on the CPU in one thread and
# one process, as every demo job does.
def train_gpus(wildcards):
    return config["train_gpus"] if GPUS else 0


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
        feed=lambda wildcards: f"--workers {config['train_workers'] if GPUS else 0} "
        f"--ranks {max(1, train_gpus(wildcards))}",
    threads: lambda wildcards: config["train_workers"] + 1 if GPUS else 1
    resources:
        gpu=train_gpus,
    log:
        "results/logs/train/{dataset}/{method}/{framework}.log",
    shell:
        "python -m methods.gpu_slots {resources.gpu} -- "
        "python -m methods.train --method {wildcards.method} --framework {wildcards.framework} "
        "--data $(dirname {input.data}) --out $(dirname {output.weights}) --seed {params.seed} "
        "--overrides {params.overrides:q} {params.backbones} {params.feed} 2> {log}"
