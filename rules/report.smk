# One self-contained HTML page per experiment, plus its tables as CSV, LaTeX and Markdown.
rule report:
    input:
        scores=lambda wildcards: experiment_files(
            wildcards.experiment,
            "results/score/{dataset}/{mask_set}/{method}/{framework}/{weights}.tsv"),
    output:
        html="reports/{experiment}.html",
        tables=directory("reports/{experiment}"),
    params:
        experiment=lambda wildcards: check_experiment(wildcards.experiment),
    log:
        "results/logs/report/{experiment}.log",
    shell:
        "python -m reports.build --experiment {wildcards.experiment} "
        "--config configs/config.yaml --mask-sets configs/mask_sets.yaml "
        "--scores {input.scores} --out {output.html} 2> {log}"
