# Learned methods: weights.safetensors (framework-neutral), resolved.yaml and log.jsonl per
# dataset x method x framework. A run killed midway resumes from its last checkpoint.
rule train:
    input:
        "results/data/{dataset}/train/manifest.tsv",
    output:
        "results/train/{dataset}/{method}/{framework}/weights.safetensors",
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
        "--data $(dirname {input}) --out $(dirname {output}) --seed {params.seed} "
        "--overrides '{params.overrides}' {params.backbones} 2> {log}"
