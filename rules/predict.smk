# Composited predictions of one method x framework x weights on one dataset x mask set.
rule predict:
    input:
        method_sources,
        unpack(trained_weights),
        images="results/data/{dataset}/test/manifest.tsv",
        masks="results/masks/{mask_set}/manifest.tsv",
    output:
        "results/predict/{dataset}/{mask_set}/{method}/{framework}/{weights}/predictions.tsv",
        "results/predict/{dataset}/{mask_set}/{method}/{framework}/{weights}/provenance.json",
    params:
        batch_size=config["batch_size"],
        inference=lambda wildcards: json.dumps(inference_overrides(wildcards)),
        checkpoint=lambda wildcards, input: (
            f"--checkpoint {input.checkpoint}" if "checkpoint" in input.keys() else ""),
    log:
        "results/logs/predict/{dataset}/{mask_set}/{method}/{framework}/{weights}.log",
    shell:
        "python -m methods.predict --method {wildcards.method} "
        "--framework {wildcards.framework} --weights {wildcards.weights} "
        "--images results/data/{wildcards.dataset}/test "
        "--masks results/masks/{wildcards.mask_set} --batch-size {params.batch_size} "
        "{params.checkpoint} --inference '{params.inference}' "
        "--out results/predict/{wildcards.dataset}/{wildcards.mask_set}/{wildcards.method}/"
        "{wildcards.framework}/{wildcards.weights} 2> {log}"
