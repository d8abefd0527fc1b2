# One self-contained HTML page per experiment, plus its tables as CSV, LaTeX and Markdown.
rule report:
    input:
        unpack(report_inputs),
    output:
        html="reports/{experiment}.html",
        tables=directory("reports/{experiment}"),
    params:
        experiment=lambda wildcards: check_experiment(wildcards.experiment),
        seed=config["seed"],
        bootstrap_samples=config["bootstrap_samples"],
        configs=" ".join(["configs/config.yaml", *map(str, workflow.overwrite_configfiles)]),
    log:
        "results/logs/report/{experiment}.log",
    shell:
        "python -m reports.build --experiment {wildcards.experiment} "
        "--config {params.configs} --mask-sets configs/mask_sets.yaml "
        "--scores {input.scores} --out {output.html} 2> {log}"
