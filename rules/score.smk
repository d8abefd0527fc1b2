# LPIPS / FID backbones are wanted when a folder of them is named or they may be downloaded: then
# score and FID-reference jobs ask for a GPU (gpu=1) where there are GPUs and use it; else they
# run on the CPU.
BACKBONES_WANTED = bool(config["backbone_weights_dir"]) or config["allow_download"]
SCORE_GPUS = int(BACKBONES_WANTED and GPUS > 0)


# FID's ground-truth statistics of one dataset x mask set (per bucket and for the whole set, in
# pytorch-fid's .npz layout), computed once and read by every run's score job.
rule fid_reference:
    input:
        pairs="results/pairs/{dataset}/{mask_set}.tsv",
        images="results/data/{dataset}/test/manifest.tsv",
    output:
        "results/fid/{dataset}/{mask_set}/stats.tsv",
    params:
        backbones=backbone_options,
        device="" if BACKBONES_WANTED else "--device cpu",
    threads: EVAL_THREADS
    resources:
        gpu=SCORE_GPUS,
    log:
        "results/logs/fid/{dataset}/{mask_set}.log",
    shell:
        "python -m methods.gpu_slots {resources.gpu} -- "
        "python -m metrics.fid_reference --pairs {input.pairs} "
        "--images $(dirname {input.images}) {params.backbones} {params.device} --threads {threads} "
        "--out $(dirname {output}) 2> {log}"


# Long-format scores (one row per item x metric) of one prediction folder; on a GPU (gpu=1)
# when LPIPS / FID backbones are wanted and there are GPUs, else on the CPU.
rule score:
    input:
        predictions="results/predict/{dataset}/{mask_set}/{method}/{framework}/{weights}/predictions.tsv",
        images="results/data/{dataset}/test/manifest.tsv",
        masks="results/masks/{mask_set}/manifest.tsv",
        pairs="results/pairs/{dataset}/{mask_set}.tsv",
        fid="results/fid/{dataset}/{mask_set}/stats.tsv",
    output:
        "results/score/{dataset}/{mask_set}/{method}/{framework}/{weights}.tsv",
    params:
        backbones=backbone_options,
        device="" if BACKBONES_WANTED else "--device cpu",
    threads: EVAL_THREADS
    resources:
        gpu=SCORE_GPUS,
    log:
        "results/logs/score/{dataset}/{mask_set}/{method}/{framework}/{weights}.log",
    shell:
        "python -m methods.gpu_slots {resources.gpu} -- "
        "python -m metrics.score --predictions $(dirname {input.predictions}) "
        "--images $(dirname {input.images}) --masks $(dirname {input.masks}) "
        "--pairs {input.pairs} --fid-reference $(dirname {input.fid}) {params.backbones} "
        "{params.device} --threads {threads} --out {output} 2> {log}"
