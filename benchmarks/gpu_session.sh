#!/usr/bin/env bash
# The GPU measurements of training at full size, in one run (issue 13's GPU acceptance):
#   bash benchmarks/gpu_session.sh > gpu_figures.txt 2>&1
# train_speed in float32 and bfloat16 + channels-last, with batches drawn beforehand and fed by
# the input pipeline (15 workers: a 16-core machine, one core for the training process); the
# input pipeline alone; the GPU's busy share during 60 s of pconv training. About 8 minutes on
# one H200. Needs torch with CUDA and nvidia-smi.
set -u
WORKERS=${WORKERS:-15}
for method in pconv glcic deepfill_v1; do
  python -m benchmarks.train_speed --method "$method" --batch 16 --steps 30
  python -m benchmarks.train_speed --method "$method" --batch 16 --steps 30 \
      --feed-workers "$WORKERS"
done
python -m benchmarks.input_pipeline --seconds 5 --workers 0 4 8 "$WORKERS"
python -m benchmarks.gpu_busy --seconds 60 --workers "$WORKERS"
