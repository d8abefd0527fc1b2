# The inpainting benchmark: a table of contents. Stages live in rules/*.smk and each rule only
# wires files to a module CLI (python -m datasets.prepare, datasets.masks.build, methods.predict,
# metrics.score, reports.build). Build a report with: snakemake --cores 2 reports/demo.html
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "configs/config.yaml"


validate(config, "configs/config.schema.yaml")


wildcard_constraints:
    dataset="[A-Za-z0-9_]+",
    split="train|test",
    mask_set="[A-Za-z0-9_]+",
    method="[A-Za-z0-9_]+",
    framework="torch|paddle|numpy",
    weights="[A-Za-z0-9_]+(-[a-z0-9_]+)?",  # retrained, none, published-<source>
    source="[a-z0-9_]+",
    experiment="[A-Za-z0-9_]+",


include: "rules/common.smk"
include: "rules/prepare.smk"
include: "rules/masks.smk"
include: "rules/train.smk"
include: "rules/predict.smk"
include: "rules/score.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        "reports/demo.html",
