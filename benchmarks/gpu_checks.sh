#!/usr/bin/env bash
# The GPU figures issue 16 asks for (and issues 4 and 5 before it), in one run of the device
# tool: about 10 minutes on one H100/H200, each part under its own `timeout` so that one slow
# part cannot eat the rest (the limits add up to 590 s plus set-up). Not yet run on a GPU.
#
# Here, once:  echo /.whl/ >> .git/info/exclude && ../shared/tools/gpu-wheels .whl
# Device run (carry [".whl"], timeout_s 660):
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl \
#     && export PYTHONPATH=/tmp/site:. && bash benchmarks/gpu_checks.sh "$OUT"
# The figures land in OUT/*.txt; copy them into README.md with the device name.
#
# The device has one GPU, so pre-labeling on several GPUs (torchrun) cannot be measured
# there: NCCL refuses two ranks on one GPU. Part 6 runs the torchrun path on that machine's
# CPUs (gloo) as a smoke test of its software only; CI tests the same on two CPU processes.
set -uo pipefail
out=${1:-/tmp/gpu-checks}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:-.}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)" \
  | tee -a "$out/gpu.txt"

# Part 5 first, as it decides what 3 and 4 start from: are torchvision's COCO weights cached?
# (No download on the device.) If they are, benchmarks/correction_loop.py and the amp check
# below use them by themselves; if not, every model starts from no weights.
timeout 20 python3 - <<'EOF' 2>&1 | tee "$out/weights.txt"
from labeler.ml.registry import MODELS
from labeler.ml.weights import coco_cache_path
for name in MODELS:
    path = coco_cache_path(MODELS[name])
    if path is not None:
        print(f"{name}: COCO weights {'cached at ' + str(path) if path.is_file() else 'not cached (' + str(path) + ')'}")
EOF

# Part 1 (issue 16, goal >= 60 images/s for the default model at 800 px end to end): first as
# the app runs today (OpenCV decoding, bfloat16 autocast), with the screen latency and 300
# detections on 12 MP (issue 4); then JPEGs decoded on the GPU (off in the app until this
# measures it: if it is faster and the suggestions agree, turn WorkerConfig.decode_on_device
# on), bfloat16 off, channels_last on; then where the time goes (torch.profiler) and what
# bfloat16 costs in accuracy.
p="benchmarks/prelabel.py --device cuda --models maskrcnn_resnet50_fpn_v2 --batch 8"
timeout 150 python3 $p --images 240 --parts throughput,screen,big 2>&1 | tee "$out/prelabel.txt"
timeout 60 python3 $p --images 160 --parts throughput --device-decode 2>&1 | tee -a "$out/prelabel.txt"
timeout 60 python3 $p --images 160 --parts throughput --no-amp 2>&1 | tee -a "$out/prelabel.txt"
timeout 60 python3 $p --images 160 --parts throughput --channels-last 2>&1 | tee -a "$out/prelabel.txt"
timeout 60 python3 $p --images 48 --parts throughput --device-decode --profile 2>&1 | tee "$out/profile.txt"
timeout 50 python3 $p --images 24 --parts amp 2>&1 | tee "$out/amp.txt"
timeout 20 python3 benchmarks/store_suggestions.py 2>&1 | tee "$out/store.txt"  # the CPU-side write per image

# Part 3 (issue 5): fine-tuning throughput at 800 px, and a round's wall time for 120 images
# through the app's trainer (snapshot, fine-tune, held-out scoring, promotion).
timeout 90 python3 benchmarks/correction_loop.py --device cuda --parts throughput \
  --throughput-steps 30 --batch 8 2>&1 | tee "$out/throughput.txt"

# Part 4 (issue 5): learning on synthetic shapes, rounds through the app's trainer, and the
# simulated annotator on the same kind of data.
timeout 150 python3 benchmarks/correction_loop.py --device cuda --parts learning,simulate \
  --model maskrcnn_mobilenet_v3_large_fpn --size 320 --width 480 --height 360 --rounds 3 --per-round 40 \
  --budget 400 --batch 8 --optimizer adamw --lr 1e-3 --warmup 100 --sim-images 60 2>&1 | tee "$out/learning.txt"

# Part 6: `torchrun --nproc-per-node 2 labeler prelabel` on this machine's CPUs (gloo; the GPU
# hidden), the tiny model: both ranks run, rank 0 alone writes and speaks.
timeout 60 bash -c 'set -e; d=$(mktemp -d); python3 -c "
import sys; from pathlib import Path
from labeler.ml.synthetic import make_shapes_project
print(make_shapes_project(Path(sys.argv[1]), count=8))" "$d" > "$d/where"
CUDA_VISIBLE_DEVICES= python3 -m torch.distributed.run --nproc-per-node 2 --master-port 29517 -m labeler \
  prelabel "$(cat "$d/where")" --model maskrcnn_tiny --device cpu --offline --untrained --batch 2 \
  --score-threshold 0' 2>&1 | tail -n 5 | tee "$out/torchrun.txt"
echo "done: $(ls "$out")"
