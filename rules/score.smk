# Long-format scores (one row per item x metric) of one prediction folder.
rule score:
    input:
        predictions="results/predict/{dataset}/{mask_set}/{method}/{framework}/{weights}/predictions.tsv",
        images="results/data/{dataset}/test/manifest.tsv",
        masks="results/masks/{mask_set}/manifest.tsv",
    output:
        "results/score/{dataset}/{mask_set}/{method}/{framework}/{weights}.tsv",
    params:
        backbones=backbone_options,
    log:
        "results/logs/score/{dataset}/{mask_set}/{method}/{framework}/{weights}.log",
    shell:
        "python -m metrics.score --predictions $(dirname {input.predictions}) "
        "--images $(dirname {input.images}) --masks $(dirname {input.masks}) "
        "{params.backbones} --out {output} 2> {log}"
