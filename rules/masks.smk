# Mask sets: results/masks/{mask_set}/ PNGs + manifest.tsv (id, sha256, hole_ratio, bucket).
# The definition is a param, so editing one set in configs/mask_sets.yaml rebuilds that set only.
# A set of kind nvidia is imported from config nvidia_masks_dir (checked before any job runs).
def nvidia_masks_inputs(wildcards):
    """Input function of the masks rule: for a set of kind nvidia, the folder nvidia_masks_dir,
    failing fast with datasets/masks/nvidia.py's message if it is not the published set."""
    if MASK_SETS.get(wildcards.mask_set, {}).get("kind") != "nvidia":
        return []
    try:
        nvidia.check_folder(config["nvidia_masks_dir"])
    except nvidia.NvidiaMasksError as err:
        raise WorkflowError(str(err))
    return [config["nvidia_masks_dir"]]


rule masks:
    input:
        nvidia_masks_inputs,
    output:
        "results/masks/{mask_set}/manifest.tsv",
    params:
        definition=lambda wildcards: MASK_SETS[wildcards.mask_set],
        nvidia=lambda wildcards, input: f"--nvidia-dir {shlex.quote(input[0])}" if input else "",
    log:
        "results/logs/masks/{mask_set}.log",
    shell:
        "python -m datasets.masks.build --name {wildcards.mask_set} {params.nvidia} "
        "--definitions configs/mask_sets.yaml --out results/masks/{wildcards.mask_set} 2> {log}"
