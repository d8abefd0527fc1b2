# Mask sets: results/masks/{mask_set}/ PNGs + manifest.tsv (id, sha256, hole_ratio, bucket).
# The definition is a param, so editing one set in configs/mask_sets.yaml rebuilds that set only.
rule masks:
    output:
        "results/masks/{mask_set}/manifest.tsv",
    params:
        definition=lambda wildcards: MASK_SETS[wildcards.mask_set],
    log:
        "results/logs/masks/{mask_set}.log",
    shell:
        "python -m datasets.masks.build --name {wildcards.mask_set} "
        "--definitions configs/mask_sets.yaml --out results/masks/{wildcards.mask_set} 2> {log}"
