# Learned methods: weights.safetensors (framework-neutral), resolved.yaml and log.jsonl per
# dataset x method x framework. A run killed midway resumes from its last checkpoint; log.jsonl
# is not a declared output because Snakemake would delete it before the resumed job.
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
    resources:
        gpu=1,
    log:
        "results/logs/train/{dataset}/{method}/{framework}.log",
    shell:
        "python -m methods.train --method {wildcards.method} --framework {wildcards.framework} "
        "--data $(dirname {input.data}) --out $(dirname {output.weights}) --seed {params.seed} "
        "--overrides {params.overrides:q} {params.backbones} 2> {log}"
