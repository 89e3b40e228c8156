#!/usr/bin/env bash
# The GPU figures issues 4 and 5 ask for, in one run of the device tool (about 10 minutes on
# one H100/H200; each part has its own time limit so one slow part cannot eat the rest).
# Not yet run on a GPU: written for the first session that is lent one.
#
# Here, once:  echo /.whl/ >> .git/info/exclude && ../shared/tools/gpu-wheels .whl
# Device run (carry [".whl"], timeout_s 660):
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl \
#     && export PYTHONPATH=/tmp/site:. && bash benchmarks/gpu_checks.sh "$OUT"
# The figures land in OUT/*.txt; copy them into README.md with the device name.
set -uo pipefail
out=${1:-/tmp/gpu-checks}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:-.}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)" \
  | tee -a "$out/gpu.txt"

# Issue 4: pre-labeling images/s end to end at 800 px (goal: >= 40/s for the default model),
# screen latency, 300 detections on 12 MP.
timeout 200 python3 benchmarks/prelabel.py --device cuda --images 200 --batch 8 2>&1 | tee "$out/prelabel.txt"

# Issue 5: fine-tuning throughput at 800 px (images/s, time for a pass over 120 images).
timeout 120 python3 benchmarks/correction_loop.py --device cuda --parts throughput \
  --throughput-steps 30 --batch 8 2>&1 | tee "$out/throughput.txt"

# Issue 5: learning from scratch on synthetic shapes, rounds through the app's trainer, and the
# simulated annotator on the same kind of data.
timeout 240 python3 benchmarks/correction_loop.py --device cuda --parts learning,simulate \
  --model maskrcnn_mobilenet_v3_large_fpn --size 320 --width 480 --height 360 --rounds 4 --per-round 20 \
  --budget 600 --batch 8 --optimizer adamw --lr 1e-3 --warmup 100 --sim-images 60 2>&1 | tee "$out/learning.txt"
echo "done: $(ls "$out")"
