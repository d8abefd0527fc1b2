# Prepared images: results/data/{dataset}/{train,test}/ with manifest.tsv (id, sha256, ...).
rule prepare:
    input:
        dataset_inputs,
    output:
        train="results/data/{dataset}/train/manifest.tsv",
        test="results/data/{dataset}/test/manifest.tsv",
    params:
        data_root=config["data_root"],
    log:
        "results/logs/prepare/{dataset}.log",
    shell:
        "python -m datasets.prepare --dataset {wildcards.dataset} "
        "--data-root {params.data_root} --out results/data/{wildcards.dataset} 2> {log}"
