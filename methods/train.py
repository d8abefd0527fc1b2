"""Train stage: train one learned method in one framework on a prepared training split.

    python -m methods.train --method pconv --framework torch --data results/data/demo/train \
        --out results/train/demo/pconv/torch --seed 0 --overrides '{"width": 16}'

The method's spec.yaml gives the defaults (`params` build the model, `training` drive
train_<framework>.train); --overrides (from configs/config.yaml `training`) replace some of
them, and an unknown key is an error. The run resumes from its last checkpoint in --out if one
exists. It writes resolved.yaml (every setting used, the deviations from the paper that they
imply, provenance), log.jsonl, and last weights.safetensors, so that file's presence means the
run is complete.

--workers N draws the batches in N worker processes ahead of the step (methods/feed.py; the
weights do not depend on N). --ranks N trains data parallel in N processes, one GPU each,
started by the framework's own launcher (torchrun, paddle.distributed.launch), which this
command runs for you (methods/parallel.py); the global batch is the spec's batch_size.
"""
import argparse
import importlib
import json
import logging
import os
import sys
import time
from pathlib import Path

import yaml

import methods
from datasets.io import ChangedFile, atomic_write_text
from datasets.store import MissingFile
from methods import checkpoint, devices, parallel
from methods.training import BOOKKEEPING, Diverged
from reports.provenance import environment

log = logging.getLogger(__name__)


def resolve_settings(spec, overrides, source):
    """(model params, training settings, deviations) from the spec updated by overrides.

    Every override of a spec default is a deviation from the schedule the spec cites (the
    demo's smaller network and shorter run, say), so each is returned as one, to be recorded in
    resolved.yaml and shown in the report; bookkeeping settings (how often to checkpoint) change
    no result and are not deviations."""
    methods.check_overrides(spec, overrides, ["params", "training"], source)
    params, training = dict(spec.get("params", {})), dict(spec.get("training", {}))
    deviations = []
    for key, value in overrides.items():
        target = params if key in params else training
        if value != target[key] and key not in BOOKKEEPING:
            deviations.append(f"{key}: {value} (spec default {target[key]})")
        target[key] = value
    return params, training, deviations


def diverged_message(err, resume, training):
    """What a diverged run says: where, what was kept (resume: its checkpoint file), the fix."""
    kept = (f"its last checkpoint {resume} (saved every {training['checkpoint_every']} steps) "
            "is kept, and log.jsonl holds the steps read back before the failure (a rerun "
            "resumes from the checkpoint and cuts the log back to it)" if resume.is_file()
            else "no checkpoint had been saved yet")
    return (f"methods.train: training diverged: {err}. No weights were written; {kept}. Lower "
            "the learning rate (lr in configs/config.yaml training.<dataset>.<method>, or the "
            "spec default) and run again; a changed setting trains afresh")


def launch(args, argv):
    """Run this command line again as args.ranks ranks under the framework's launcher (which
    sets the ranks' environment, so they do not launch again); never returns."""
    here = Path(__file__).resolve()
    command = parallel.launcher(args.framework, args.ranks, Path(args.out) / "ranks", here)
    env = {**os.environ, parallel.LAUNCHER_PID: str(os.getpid()), "PYTHONPATH": os.pathsep.join(
        p for p in (str(here.parent.parent), os.environ.get("PYTHONPATH")) if p)}
    log.info("methods.train: %d ranks: %s", args.ranks, " ".join(command + argv))
    os.execvpe(command[0], command + argv, env)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--framework", required=True, choices=["torch", "paddle"])
    parser.add_argument("--data", required=True, help="prepared training split folder")
    parser.add_argument("--out", required=True, help="results/train/<dataset>/<method>/<fw>")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overrides", default="{}", help="JSON object of spec overrides")
    parser.add_argument("--device", default=None, help="default: the GPU if there is one")
    parser.add_argument("--backbone-weights-dir", default=None)
    parser.add_argument("--no-download", action="store_true")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes drawing batches ahead of the step (0: in this one)")
    parser.add_argument("--ranks", type=int, default=1,
                        help="data-parallel processes, one GPU each (started by the launcher)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    launched = parallel.ranks()[1]
    if args.ranks < 1 or args.workers < 0:
        raise SystemExit(f"methods.train: --ranks must be >= 1 and --workers >= 0, got "
                         f"{args.ranks} and {args.workers}")
    if launched == 1 and args.ranks > 1:
        launch(args, sys.argv[1:] if argv is None else argv)
    if launched not in (1, args.ranks):
        raise SystemExit(f"methods.train: started as {launched} ranks but --ranks is "
                         f"{args.ranks}")
    parallel.die_with_launcher()
    spec = methods.load_spec(args.method)
    if spec["kind"] != "learned":
        raise SystemExit(f"methods/{args.method} is {spec['kind']}: there is nothing to train")
    params, training, overridden = resolve_settings(spec, json.loads(args.overrides),
                                                    "--overrides")
    device = devices.resolve(args.framework, args.device)
    devices.flush_denormals(args.framework, device)
    module = importlib.import_module(f"methods.{args.method}.train_{args.framework}")
    started = time.time()
    try:
        state, deviations = module.train(
            spec, args.data, Path(args.out), steps=training["steps"], seed=args.seed,
            device=device, params=params, settings=training,
            backbones={"weights_dir": args.backbone_weights_dir,
                       "allow_download": not args.no_download}, workers=args.workers)
    except Diverged as err:
        raise SystemExit(diverged_message(err, Path(args.out) / module.RESUME, training))
    except (checkpoint.CheckpointError, ChangedFile, MissingFile, parallel.RanksError) as err:
        raise SystemExit(f"methods.train: {err}")
    finally:
        importlib.import_module(f"methods.parallel_{args.framework}").finish()
    if not parallel.writer():
        return
    resolved = {"method": args.method, "framework": args.framework, "data": args.data,
                "seed": args.seed, "device": device, "params": params, "training": training,
                "deviations": overridden + deviations, "ranks": launched,
                "loader_workers": args.workers, "seconds": round(time.time() - started, 1),
                **environment()}
    atomic_write_text(Path(args.out) / "resolved.yaml", yaml.safe_dump(resolved, sort_keys=False))
    # One metadata key: safetensors keeps metadata in a hash map, so several keys would be
    # written in a varying order and the same weights would not give the same file bytes.
    checkpoint.save(Path(args.out) / "weights.safetensors", state,
                    {"harness": json.dumps({"method": args.method, "framework": args.framework,
                                            "params": params}, sort_keys=True)})
    log.info("%s/%s: %d steps in %.0f s", args.method, args.framework, training["steps"],
             resolved["seconds"])


if __name__ == "__main__":
    main()
