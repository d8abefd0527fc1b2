# Shared lookups: mask-set definitions, discovered methods, and the experiment -> files mapping.

import json
import shlex
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

import methods
from datasets import pairing
from methods import devices, import_weights
from methods.checkpoint import CheckpointError, check_complete
from methods.training import SHARED_TRAINING_CODE
from datasets.masks import nvidia
from datasets.masks.buckets import LABELS, bucket_index
from datasets.prepare import DatasetMissing, require, settings

MASK_SETS = yaml.safe_load(open("configs/mask_sets.yaml"))
validate(MASK_SETS, "../configs/mask_sets.schema.yaml")  # relative to this file
METHODS = methods.discover()


def check_experiment(name):
    """Stop before any job runs when an experiment names something that does not exist."""
    exp = config["experiments"][name]
    problems = [f"mask set '{m}' is not defined in configs/mask_sets.yaml"
                for m in exp["mask_sets"] if m not in MASK_SETS]
    problems += [f"method '{m}' has no methods/{m}/spec.yaml" for m in exp["methods"]
                 if m not in METHODS]
    if not Path(f"datasets/{exp['dataset']}/prepare.py").is_file():
        problems.append(f"dataset '{exp['dataset']}' has no recipe datasets/"
                        f"{exp['dataset']}/prepare.py")
    else:
        resolution = settings(exp["dataset"], config)["resolution"]
        problems += [f"mask set '{m}' is {MASK_SETS[m]['resolution']} px but dataset "
                     f"'{exp['dataset']}' is {resolution} px" for m in exp["mask_sets"]
                     if m in MASK_SETS and MASK_SETS[m]["resolution"] != resolution]
    problems += [f"mask set '{m}': a {d['box']} px box in {d['resolution']} px has a hole "
                 "ratio outside the buckets (0.01, 0.6]" for m, d in MASK_SETS.items()
                 if m in exp["mask_sets"] and d["kind"] == "box"
                 and bucket_index(d["box"] ** 2, d["resolution"] ** 2) is None]
    if problems:
        raise ValueError(f"experiment '{name}' in configs/config.yaml: " + "; ".join(problems))
    return exp


def check_training():
    """Stop before any job runs when `training` names an unknown method or setting, or gives a
    setting a value of another type than its default or outside its spec limits."""
    for dataset, entries in config.get("training", {}).items():
        for method, overrides in entries.items():
            source = f"configs/config.yaml training.{dataset}.{method}"
            if METHODS.get(method, {}).get("kind") != "learned":
                raise ValueError(f"{source}: '{method}' is not a learned method (see "
                                 f"methods/{method}/spec.yaml)")
            methods.check_overrides(METHODS[method], overrides, ["params", "training"], source)


def check_inference():
    """Stop before any job runs when `inference` names an unknown method or option, or gives an
    option a value the method's spec does not allow (the predict stage's own check)."""
    for dataset, entries in config.get("inference", {}).items():
        for method, overrides in entries.items():
            source = f"configs/config.yaml inference.{dataset}.{method}"
            if method not in METHODS:
                raise ValueError(f"{source}: no method '{method}' (methods/{method}/spec.yaml)")
            methods.resolve_inference(METHODS[method], overrides, source)


check_training()
check_inference()
GPUS = devices.workflow_gpus(workflow.global_resources)  # 0: no job asks for a GPU


def runs(name):
    """(method, framework, weights) triples of an experiment, in config order."""
    exp = check_experiment(name)
    return [(m, f, w) for m in exp["methods"] for f in METHODS[m]["frameworks"]
            for w in methods.weights_variants(METHODS[m], exp["dataset"],
                                              config["published_weights_dir"])]


def experiment_files(name, pattern):
    exp = config["experiments"][name]
    return [pattern.format(dataset=exp["dataset"], mask_set=s, method=m, framework=f, weights=w)
            for s in exp["mask_sets"] for m, f, w in runs(name)]


def backbone_options(wildcards):
    """Score-stage flags for the LPIPS/FID backbone weights (configs/config.yaml); a folder
    from the config is shell-quoted, as every path from the config is (it may hold spaces)."""
    weights_dir = config["backbone_weights_dir"]
    return ((f"--backbone-weights-dir {shlex.quote(weights_dir)} " if weights_dir else "")
            + ("" if config["allow_download"] else "--no-download"))


def trained_weights(wildcards):
    """Input of the predict step: the retrained checkpoint of a learned method, if any. One that
    exists but is cut short stops the workflow before any job, naming it: Snakemake would
    otherwise take it as up to date and run predict on it again at every invocation."""
    source = import_weights.source_of(wildcards.weights)
    if source is not None:
        return {"checkpoint": f"results/published/{wildcards.dataset}/{wildcards.method}/"
                f"{source}/weights.safetensors"}
    if wildcards.weights != "retrained":
        return {}
    path = (f"results/train/{wildcards.dataset}/{wildcards.method}/{wildcards.framework}/"
            "weights.safetensors")
    if Path(path).is_file():
        try:
            check_complete(path)
        except CheckpointError as err:
            raise WorkflowError(str(err))
    return {"checkpoint": path}


def training_overrides(wildcards):
    """configs/config.yaml `training` entries for one dataset x method (spec defaults else)."""
    return config.get("training", {}).get(wildcards.dataset, {}).get(wildcards.method, {})


def inference_overrides(wildcards):
    """configs/config.yaml `inference` entries for one dataset x method (spec defaults else)."""
    return config.get("inference", {}).get(wildcards.dataset, {}).get(wildcards.method, {})


def method_sources(wildcards):
    """A method's spec and code (and, for a learned one, the shared training code): editing any
    of them reruns the jobs that used them. published.py, which only the import of released
    weights runs, is that rule's input instead (rules/train.smk)."""
    files = [f"methods/{wildcards.method}/spec.yaml"]
    files += sorted(str(p) for p in Path(f"methods/{wildcards.method}").glob("*.py")
                    if not p.name.startswith("test_") and p.name != "published.py")
    if METHODS[wildcards.method]["kind"] == "learned":
        files += [f"methods/{name}.py" for name in SHARED_TRAINING_CODE]
    return files


def report_inputs(wildcards):
    """Everything the report reads: scores, the prediction and training records, specs."""
    exp = check_experiment(wildcards.experiment)
    log_sizing(wildcards.experiment)
    scores = experiment_files(
        wildcards.experiment,
        "results/score/{dataset}/{mask_set}/{method}/{framework}/{weights}.tsv")
    resolved = sorted({f"results/train/{exp['dataset']}/{m}/{f}/resolved.yaml"
                       for m, f, w in runs(wildcards.experiment) if w == "retrained"})
    predictions = experiment_files(
        wildcards.experiment,
        "results/predict/{dataset}/{mask_set}/{method}/{framework}/{weights}/provenance.json")
    imported = sorted({f"results/published/{exp['dataset']}/{m}/{import_weights.source_of(w)}/"
                       "weights.safetensors" for m, f, w in runs(wildcards.experiment)
                       if import_weights.source_of(w) is not None})
    specs = [str(p) for m in exp["methods"] for p in sorted(Path(f"methods/{m}").glob("*.yaml"))]
    pairs = [f"results/pairs/{exp['dataset']}/{m}.tsv" for m in exp["mask_sets"]]
    return {"scores": scores, "predictions": predictions, "resolved": resolved,
            "imported": imported, "specs": specs,
            "pairs": pairs, "dataset": f"results/data/{exp['dataset']}/dataset.json"}
