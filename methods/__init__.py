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
import math
import operator
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent
FRAMEWORKS = ("torch", "paddle", "numpy")
KINDS = ("learned", "classical", "control")
REQUIRED = {"id": str, "title": str, "kind": str, "paper": str, "citation": str,
            "upstream": list, "frameworks": list, "sees_ground_truth": bool,
            "deviations": list, "notes": str}
OPTIONAL = {"params": dict, "training": dict, "inference": dict, "limits": dict}
# a published figure (an entry of methods/<id>/reported.yaml): where it comes from, which
# harness dataset and mask kind it sits beside, its values in the harness's metric names and
# display scale, and every way its protocol differs from the harness's (reports/published.py)
REPORTED = {"source": str, "dataset": str, "masks": str, "resolution": int, "test_set": str,
            "values": dict, "differences": list}
MASK_KINDS = ("box", "irregular")
SECTIONS = ("params", "training", "inference")
BOUNDS = {"ge": (operator.ge, ">="), "gt": (operator.gt, ">"), "le": (operator.le, "<="),
          "lt": (operator.lt, "<")}


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
    check_limits(spec, path)
    return spec


def load_reported(folder):
    """The published figures of the method in folder (its reported.yaml; [] without one)."""
    return load_list(Path(folder) / "reported.yaml", "published figures", check_reported)


def load_list(path, what, check):
    """The entries of a method's list file (reported.yaml, published.yaml), each validated by
    check(entry, where); [] when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    entries = yaml.safe_load(path.read_text())
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of {what}")
    for number, entry in enumerate(entries, 1):
        check(entry, f"{path}: entry {number}")
    return entries


def check_entry(entry, schema, where, optional=None):
    """An entry of a method's list file (reported.yaml, published.yaml): the schema's keys and
    any of the optional ones, each of its type."""
    optional = optional or {}
    if (not isinstance(entry, dict) or not set(schema) <= set(entry)
            or set(entry) - set(schema) - set(optional)):
        found = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        extra = f" (and optionally {sorted(optional)})" if optional else ""
        raise ValueError(f"{where}: expected the keys {sorted(schema)}{extra}, found {found}")
    for key, kind in {**schema, **optional}.items():
        if key in entry and not isinstance(entry[key], kind):
            raise ValueError(f"{where}: '{key}' must be a {kind.__name__}")


def check_reported(entry, where):
    check_entry(entry, REPORTED, where)
    if entry["masks"] not in MASK_KINDS:
        raise ValueError(f"{where}: masks must be one of {MASK_KINDS}, not '{entry['masks']}'")
    if not entry["values"] or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                      for v in entry["values"].values()):
        raise ValueError(f"{where}: values must map metric names to published numbers")


def defaults(spec):
    """{setting: default} over the spec's params, training and inference sections."""
    return {k: v for section in SECTIONS for k, v in spec.get(section, {}).items()}


def check_limits(spec, path):
    """Every setting that is not a boolean has limits (ge / gt / le / lt bounds, or in: its
    values), every limit names a setting, and every default satisfies its own."""
    settings, limits = defaults(spec), spec.get("limits", {})
    unknown = sorted(set(limits) - set(settings))
    missing = sorted(k for k, v in settings.items() if not isinstance(v, bool) and k not in limits)
    if unknown or missing:
        raise ValueError(f"{path}: limits name no setting {unknown}, and settings {missing} have "
                         "no limits (ge/gt/le/lt bounds, or in: a list of values)")
    for key, limit in limits.items():
        if not isinstance(limit, dict) or set(limit) - set(BOUNDS) - {"in"}:
            raise ValueError(f"{path}: limits of {key} must map ge/gt/le/lt/in to values, "
                             f"got {limit!r}")
        check_value(spec, key, settings[key], f"{path}: the default of")


def check_value(spec, key, value, source):
    """Raise ValueError, naming source, unless value may replace the setting key's default: the
    default's type (an integer default takes integers only; booleans only booleans; a number
    must be finite) and the spec's limits."""
    default, limit = defaults(spec)[key], spec.get("limits", {}).get(key, {})
    where = f"(methods/{spec['id']}/spec.yaml)"
    if isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, (int, float)):
        exact = isinstance(default, int)
        ok = (isinstance(value, int if exact else (int, float)) and not isinstance(value, bool)
              and math.isfinite(value))
        expected = "an integer" if exact else "a finite number"
    else:
        ok, expected = isinstance(value, type(default)), f"a {type(default).__name__}"
    if not ok:
        hint = (" (YAML reads a number without a dot in its mantissa, like 1e-3, as text: write "
                "1.0e-3)" if isinstance(value, str) and _is_number(value) else "")
        raise ValueError(f"{source} {key} must be {expected} like its default {default!r} "
                         f"{where}, got {value!r}{hint}")
    if "in" in limit and value not in limit["in"]:
        raise ValueError(f"{source} {key} must be one of {limit['in']} {where}, got {value!r}")
    for name, bound in limit.items():
        if name != "in" and not BOUNDS[name][0](value, bound):
            raise ValueError(f"{source} {key} must be {BOUNDS[name][1]} {bound} {where}, "
                             f"got {value!r}")


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_overrides(spec, overrides, sections, source):
    """Raise ValueError naming source unless every override names a setting of the given spec
    sections and holds a value check_value accepts."""
    known = {k for section in sections for k in spec.get(section, {})}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"{source}: {unknown} not among the settings {sorted(known)} of "
                         f"methods/{spec['id']}/spec.yaml ({' and '.join(sections)})")
    for key, value in overrides.items():
        check_value(spec, key, value, f"{source}:")


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


def weights_variants(spec, dataset, published_dir):
    """Path component {weights} of a method on a dataset: 'none' for methods without weights;
    learned methods are retrained by the harness, and published-<source> joins for each of the
    method's releases for the dataset that is in published_dir and not refused
    (methods/import_weights.py)."""
    if spec["kind"] != "learned":
        return ["none"]
    from methods import import_weights  # it reads methods' own helpers: imported when asked
    return ["retrained"] + [import_weights.variant(r) for r in
                            import_weights.importable(spec["id"], dataset, published_dir)]


def method_input(image, mask, spec):
    """What a method is shown: the image with its hole zeroed, unless it is the oracle."""
    if spec["sees_ground_truth"]:
        return image
    return (image * (1.0 - mask)).astype(np.float32)


def resolve_inference(spec, overrides, source="inference options"):
    """The method's inference options (spec.yaml `inference`) updated by overrides (from
    configs/config.yaml `inference`, via predict --inference); a key the spec does not have, or
    a value check_value refuses, is an error."""
    check_overrides(spec, overrides, ["inference"], source)
    return {**spec.get("inference", {}), **overrides}
