"""The method contract and discovery.

A method is any folder methods/<id>/ holding a spec.yaml; nothing is registered anywhere else.
For each framework the spec lists, the folder holds model_<framework>.py with

    build(spec, **overrides) -> model
    inpaint(model, image, mask) -> raw prediction

image is float32 RGB (N,3,H,W) in [0,1] with the hole pixels set to 0, mask float32 (N,1,H,W)
with 1 = hole, both numpy arrays; the prediction is float32 (N,3,H,W) in [0,1]. Each port
converts to its own tensors, range and mask polarity inside. The harness composites
pred*mask + image*(1-mask) once, in methods.predict; a method never sees hole pixels unless
its spec says sees_ground_truth (allowed only for controls: the oracle).

Learned methods also hold train_<framework>.py (train(spec, data, out_dir, *, steps, seed,
device)). Framework-free methods (classical, controls) declare frameworks: [numpy].
"""
import importlib
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent
FRAMEWORKS = ("torch", "paddle", "numpy")
KINDS = ("learned", "classical", "control")
REQUIRED = {"id": str, "title": str, "kind": str, "paper": str, "citation": str,
            "upstream": list, "frameworks": list, "sees_ground_truth": bool,
            "deviations": list, "notes": str}
OPTIONAL = {"params": dict, "training": dict, "inference": dict}


def validate_spec(spec, path):
    """Raise ValueError naming the spec file and the first problem found."""
    missing = sorted(set(REQUIRED) - set(spec))
    unknown = sorted(set(spec) - set(REQUIRED) - set(OPTIONAL))
    if missing or unknown:
        raise ValueError(f"{path}: missing keys {missing}, unknown keys {unknown}")
    for key, kind in {**REQUIRED, **OPTIONAL}.items():
        if key in spec and not isinstance(spec[key], kind):
            raise ValueError(f"{path}: '{key}' must be a {kind.__name__}")
    if spec["id"] != path.parent.name:
        raise ValueError(f"{path}: id '{spec['id']}' must equal the folder name")
    if spec["kind"] not in KINDS:
        raise ValueError(f"{path}: kind must be one of {KINDS}, not '{spec['kind']}'")
    if not spec["frameworks"] or set(spec["frameworks"]) - set(FRAMEWORKS):
        raise ValueError(f"{path}: frameworks must be a non-empty subset of {FRAMEWORKS}")
    if spec["sees_ground_truth"] and spec["kind"] != "control":
        raise ValueError(f"{path}: only a control may see the ground truth")
    for framework in spec["frameworks"]:
        if not (path.parent / f"model_{framework}.py").is_file():
            raise ValueError(f"{path}: lists {framework} but model_{framework}.py is missing")
        if spec["kind"] == "learned" and not (path.parent / f"train_{framework}.py").is_file():
            raise ValueError(f"{path}: learned, but train_{framework}.py is missing")
    if spec["kind"] == "learned" and "steps" not in spec.get("training", {}):
        raise ValueError(f"{path}: a learned method needs training defaults with 'steps'")
    return spec


def load_spec(method_id, root=ROOT):
    path = Path(root) / method_id / "spec.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such method (a method is a folder with spec.yaml)")
    return validate_spec(yaml.safe_load(path.read_text()), path)


def discover(root=ROOT):
    """{id: spec} for every methods/<id>/spec.yaml, sorted by id."""
    return {p.parent.name: load_spec(p.parent.name, root)
            for p in sorted(Path(root).glob("*/spec.yaml"))}


def implementation(method_id, framework):
    """The model_<framework> module of a method."""
    return importlib.import_module(f"methods.{method_id}.model_{framework}")


def weights_variants(spec):
    """Path component {weights}: 'none' for methods without weights; learned methods are
    retrained by the harness ('published' joins when a method imports released weights)."""
    return ["retrained"] if spec["kind"] == "learned" else ["none"]


def method_input(image, mask, spec):
    """What a method is shown: the image with its hole zeroed, unless it is the oracle."""
    if spec["sees_ground_truth"]:
        return image
    return (image * (1.0 - mask)).astype(np.float32)


def resolve_inference(spec, overrides):
    """The method's inference options (spec.yaml `inference`) updated by overrides (from
    configs/config.yaml `inference`, via predict --inference); a key the spec does not have, or
    a value of another kind than the default, is an error."""
    options = dict(spec.get("inference", {}))
    unknown = sorted(set(overrides) - set(options))
    if unknown:
        raise ValueError(f"{unknown} not among the inference options of "
                         f"methods/{spec['id']}/spec.yaml ({sorted(options)})")
    for key, value in overrides.items():  # "false" (a string) would switch an option on
        if kind(value) != kind(options[key]):
            raise ValueError(f"{key} of methods/{spec['id']} must be a "
                             f"{kind(options[key])} like its default {options[key]!r}, "
                             f"got {value!r}")
    return {**options, **overrides}


def kind(value):
    """boolean, number or the type's name: what an inference option's override must match."""
    return ("boolean" if isinstance(value, bool) else "number"
            if isinstance(value, (int, float)) else type(value).__name__)
