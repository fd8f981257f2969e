#!/usr/bin/env bash
# One GPU session: correctness first (the GPU-marked tests and a CPU/GPU parity check), then timings, short table last.
# Run from the repository root on the GPU machine:  PYTHONPATH=. bash bench/gpu_suite.sh
set -euo pipefail
export PYTHONPATH="${PYTHONPATH:-.}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python - <<'PY'
import torch, augmeta
from augmeta.ops import OPS, apply_op, KernelContext
assert torch.cuda.is_available(), "no CUDA device"
torch.manual_seed(0)
x = torch.rand(64, 3, 32, 32)
m = torch.rand(64)
pos = torch.rand(64, 2)
worst = 0.0
for name in OPS:
    ctx = KernelContext(position=pos)
    ctx_gpu = KernelContext(position=pos.cuda())
    cpu = apply_op(name, x, m, context=ctx)
    gpu = apply_op(name, x.cuda(), m.cuda(), context=ctx_gpu).cpu()
    diff = (cpu - gpu).abs().max().item()
    worst = max(worst, diff if name not in ("posterize", "equalize") else 0.0)
    print(f"parity {name:<14} max|cpu-gpu| = {diff:.2e}")
for name in ("autoaugment_cifar10", "trivialaugment_wide", "randaugment_n2_m9"):
    p = augmeta.load_policy(f"policies/{name}.json")
    imgs = torch.randint(0, 256, (512, 3, 32, 32), dtype=torch.uint8)
    g = torch.Generator().manual_seed(1)
    draws = p.sample(512, "cpu", g)
    on_cpu = p.apply_draws(imgs.float() / 255, draws)
    moved = type(draws)(draws.subpolicy.cuda(), tuple(type(s)(*(t.cuda() for t in (s.op, s.magnitude, s.value, s.position))) for s in draws.steps))
    on_gpu = p.apply_draws(imgs.cuda().float() / 255, moved).cpu()
    frac = ((on_cpu - on_gpu).abs() > 1.5 / 255).float().mean().item()
    print(f"policy parity {name}: fraction of pixels off by > 1 grey level = {frac:.2e}")
    assert frac < 1e-3, name
print(f"kernel parity ok (worst float diff {worst:.2e})")
PY
python -m pytest -q -m gpu tests || [ $? -eq 5 ]
python bench/ops_throughput.py --device cuda --repeats 5 --batches 256 1024 | tee /tmp/ops.txt
# Overhead of the joint run and the accuracy protocol on full Fashion-MNIST (carry data/fashion-mnist: the four idx
# .gz files from /usr/share/datasets/fashion-mnist, copied by `mkdir -p data && cp -r /usr/share/datasets/fashion-mnist data/`).
DATA="--data-dir data/fashion-mnist"
python bench/overhead.py --dataset fashion_mnist --train-subset 0 --batch-size 512 --width 64 --epochs 3 --repeats 2 $DATA
# the six methods this was sized for; add augmeta-teacher where the device time allows three more joint runs
METHODS="--methods none randaugment autoaugment trivialaugment augmeta-joint augmeta-retrain"
timeout 480 python bench/accuracy.py --protocol gpu $METHODS $DATA || echo "accuracy protocol did not finish in 8 minutes"
