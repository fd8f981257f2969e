"""How much work the host does to augment one batch: aten ops dispatched per call, and time per call.

    python bench/augment_dispatch.py [--device cpu|cuda] [--batch 512] [--shape 1 28 28] [--repeats 5]

On a GPU a small model's training step is bound by the host once augmentation adds a few hundred small ops to it
(the H200's step profile in research/README.md: 807 kernel launches per joint step, against about 200 for ``none``), so
the number of ops a batch costs matters as much as their arithmetic. For each row this counts the top-level aten ops
(those not called by another aten op: what Python dispatches, each at least one kernel launch on a GPU) with
``torch.profiler``, and times calls without the profiler (median and min-max over ``--repeats``, each the mean of
``--calls`` calls). Rows: the published policies through ``Policy.apply``, and the default controller
(``AugMetaModule``'s, for the shape's channels) as a base step augments (no gradient) and as a
controller step does (with the graph for the backward pass, which is not timed).
Each row runs on the three paths (:mod:`augmeta.policy.applier`): ``grouped`` (the CPU's, and the baseline),
``masked`` (fixed shapes, no host sync: what an accelerator takes by default) and ``compiled`` (the masked step
under ``torch.compile``, :mod:`augmeta.policy.captured`; the first call of each row compiles it, untimed). For the
compiled path the kernels ``torch.compile`` generated that one call runs are counted too (they run besides its aten
ops; on a GPU each is a launch): on the CPU with the compiler's kernel profiling on, on a GPU the device's
``triton`` kernels. Last line, for the compiled path:
``aten_ops_trivialaugment=<n> aten_ops_controller=<n>`` (TrivialAugmentWide's batch and the controller's base step),
after the same figures of the grouped path (the baseline) and of the masked one.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch._inductor.config
from torch.profiler import ProfilerActivity, profile

from augmeta.lightning import AugMetaModule
from augmeta.policy.published import PUBLISHED


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def profiled_call(fn, device: torch.device | None = None) -> list:
    """The profiler's events of one call of ``fn`` (after a warm-up call, which also compiles a compiled path's
    graphs), the device's kernels too on a GPU. What a call does depends on the ops its batch draws (a step runs one
    kernel per op present), so the profiled call draws from a fixed seed."""
    fn()
    torch.manual_seed(0)
    on_gpu = device is not None and device.type == "cuda"
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])) as prof:
        fn()
        if device is not None:
            _sync(device)
    return prof.events()


def dispatched_ops(fn) -> int:
    """Top-level aten ops one call of ``fn`` dispatches (:func:`profiled_call`)."""
    return sum(
        1
        for event in profiled_call(fn)
        if event.name.startswith("aten::")
        and (event.cpu_parent is None or not event.cpu_parent.name.startswith("aten::"))
    )


def generated_kernels(fn, device: torch.device) -> int:
    """Kernels ``torch.compile`` generated that one call of ``fn`` runs (:func:`profiled_call`)."""
    mark = "triton" if device.type == "cuda" else "cpp_fused"
    return sum(1 for event in profiled_call(fn, device) if mark in event.name and not event.name.startswith("aten::"))


def milliseconds_per_call(fn, device: torch.device, repeats: int, calls: int) -> list[float]:
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        _sync(device)
        times.append((time.perf_counter() - start) / calls * 1e3)
    return times


#: The paths each row runs on, the baseline first and the headline's last.
PATHS = ("grouped", "masked", "compiled")


def rows(images: torch.Tensor, labels: torch.Tensor, path: str = "auto") -> dict[str, object]:
    """Name -> a call that augments ``images`` once, applying draws by ``path`` (:data:`augmeta.policy.PATHS`)."""
    controller = AugMetaModule(in_channels=images.shape[1], num_classes=int(labels.max()) + 1).meta.to(images.device)
    controller.path = path
    policies = {name: PUBLISHED[name]() for name in ("trivialaugment_wide", "randaugment_n2_m9", "autoaugment_cifar10")}

    def base_step() -> None:
        with torch.no_grad():
            controller.augment(images, labels)

    def controller_step() -> None:
        controller.augment(images, labels).images.sum()  # the graph is built, not used

    out: dict[str, object] = {name: (lambda p=policy: p.apply(images, path=path)) for name, policy in policies.items()}
    out["controller, base step (no grad)"] = base_step
    out["controller, controller step (grad)"] = controller_step
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--shape", type=int, nargs=3, default=[1, 28, 28], metavar=("C", "H", "W"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    images = torch.rand(args.batch, *args.shape, device=device)
    labels = torch.randint(0, 10, (args.batch,), device=device)
    print(f"batch {args.batch} x {tuple(args.shape)}, {device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    print(f"{'augmentation':36s} {'path':>8s} {'aten ops/call':>13s} {'compiled kernels':>16s} "
          f"{'ms/call median (min-max)':>26s}")  # fmt: skip
    counts: dict[tuple[str, str], int] = {}
    with torch._inductor.config.patch({"cpp.enable_kernel_profile": True}):  # each generated CPU kernel an event
        for path in PATHS:
            for name, fn in rows(images, labels, path).items():
                counts[name, path] = dispatched_ops(fn)  # its warm-up call compiles the compiled path's graphs
                kernels = str(generated_kernels(fn, device)) if path == "compiled" else "-"
                times = milliseconds_per_call(fn, device, args.repeats, args.calls)
                spread = f"{statistics.median(times):.2f} ({min(times):.2f}-{max(times):.2f})"
                print(f"{name:36s} {path:>8s} {counts[name, path]:13d} {kernels:>16s} {spread:>26s}")
    base = "controller, base step (no grad)"
    for path in PATHS:
        line = f"aten_ops_trivialaugment={counts['trivialaugment_wide', path]} aten_ops_controller={counts[base, path]}"
        print(line if path == "compiled" else f"{'baseline, ' if path == 'grouped' else ''}{path} path: {line}")


if __name__ == "__main__":
    main()
