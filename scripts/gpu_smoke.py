"""GPU smoke test: the CUDA paths end to end, each against its CPU twin, in well under 5 minutes.

For a lent GPU machine (not part of the test suite: the CPU runs here cannot reach these paths).
Checks, on the bundled digits data:

- train: ``st.fit(device="cuda")`` lowers the loss and leaves the model on the GPU;
- resume: 2 epochs with checkpoints, then resumed to 4, ends where an uninterrupted 4-epoch run ends;
- qat: QAT trains on the GPU and converts to an int8 model (on the CPU) as accurate as the float one;
- distill: a GPU student distilled from a GPU teacher trains (finite loss, accuracy near the teacher);
- prune_int8: a CUDA-trained conv net pruned with CUDA example inputs, BN re-estimated on the GPU and
  quantized with CPU calibration data (the issue-14 failure), measured on the CPU; its accuracy matches
  the same steps done on a CPU copy of the trained model;
- pipeline: ``slimtorch run``'s runner with ``train.device=cuda`` through channel_prune, export, int8, measure.

Usage: ``python scripts/gpu_smoke.py [--device cpu]`` (``--device cpu``: a dry run of the same code here).
Prints one line per check and exits 1 if any fails.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import slimtorch as st  # noqa: E402
from slimtorch.devices import device_of  # noqa: E402
from slimtorch.pipeline import runner  # noqa: E402
from slimtorch.recipe import parse_recipe  # noqa: E402
from slimtorch.training import TrainConfig, fit, recalibrate_bn  # noqa: E402

TRAIN, TEST = st.data.load("digits")


def convnet() -> nn.Module:
    """A conv net with BatchNorm for 8x8 digits (ChannelPrune and Int8 both handle it)."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def cfg(device: str, **kw) -> TrainConfig:
    base = dict(epochs=3, batch_size=64, optimizer="sgd", lr=0.05, momentum=0.9, device=device, quiet=True, seed=0)
    return TrainConfig(**{**base, **kw})


def accuracy(model: nn.Module) -> float:
    return st.measure(model, eval_data=TEST, latency=False)["accuracy"]


def trained(device: str) -> nn.Module:
    torch.manual_seed(0)
    model = convnet()
    fit(model, TRAIN, cfg(device))
    return model


def check_train(device: str) -> str:
    torch.manual_seed(0)
    model = convnet()
    loss = fit(model, TRAIN, cfg(device), eval_data=TEST).to_dict()["loss"]
    assert loss[-1] < 0.5 * loss[0], f"loss {loss[0]:.3f} -> {loss[-1]:.3f}"
    assert device_of(model).type == torch.device(device).type, f"model left on {device_of(model)}"
    return f"loss {loss[0]:.3f} -> {loss[-1]:.3f}, accuracy {accuracy(model):.3f}"


def check_resume(device: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        whole = convnet()
        fit(whole, TRAIN, cfg(device, epochs=4))
        torch.manual_seed(0)
        part = convnet()
        fit(part, TRAIN, cfg(device, epochs=2, out=tmp))
        torch.manual_seed(1)  # the resumed run must not depend on the fresh model's weights
        resumed = convnet()
        fit(resumed, TRAIN, cfg(device, epochs=4, out=tmp, resume=True))
    diff = max(float((a - b).abs().max()) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values())
               if a.is_floating_point())
    assert diff < 1e-3, f"resumed weights differ from the uninterrupted run by {diff:.2e}"
    return f"max weight difference vs uninterrupted {diff:.1e}"


def check_qat(device: str) -> str:
    model = trained(device)
    before = accuracy(model)
    history = fit(model, TRAIN, cfg(device, epochs=2, lr=0.01), hooks=[st.QAT(st.Int8(backend="integer"))])
    q = history.model
    assert device_of(q).type == "cpu", f"the int8 model is on {device_of(q)}"
    after = accuracy(q)
    assert after > before - 0.03, f"int8 accuracy {after:.3f} vs float {before:.3f}"
    return f"float {before:.3f} -> QAT int8 {after:.3f}"


def check_distill(device: str) -> str:
    teacher = trained(device)
    torch.manual_seed(0)
    student = st.models.build("mlp", widths=[64, 32, 10])
    history = fit(student, TRAIN, cfg(device, epochs=4), hooks=[st.Distill(teacher, temperature=4.0, alpha=0.7)])
    loss = history.to_dict()["loss"]
    acc, teacher_acc = accuracy(student), accuracy(teacher)
    assert all(v == v for v in loss) and acc > teacher_acc - 0.15, f"student {acc:.3f}, teacher {teacher_acc:.3f}"
    return f"teacher {teacher_acc:.3f}, student {acc:.3f}"


def _prune_int8(model: nn.Module, x: torch.Tensor) -> tuple[nn.Module, nn.Module]:
    small = st.prune(model, st.ChannelPrune(ratio=0.5), example_inputs=x)
    recalibrate_bn(small, TRAIN, batches=10)
    return small, st.quantize(small.eval(), st.Int8(), calib_data=TRAIN)  # CPU calibration data


def check_prune_int8(device: str) -> str:
    model = trained(device)
    twin = copy.deepcopy(model).cpu()
    small, q = _prune_int8(model, TRAIN.x[:64].to(device))
    assert device_of(small).type == torch.device(device).type, f"pruned model moved to {device_of(small)}"
    small_cpu, q_cpu = _prune_int8(twin, TRAIN.x[:64])
    got = {"pruned": accuracy(small), "int8": accuracy(q)}
    want = {"pruned": accuracy(small_cpu), "int8": accuracy(q_cpu)}
    for k in got:
        assert abs(got[k] - want[k]) <= 0.02, f"{k}: {got[k]:.3f} on {device} vs {want[k]:.3f} on the CPU"
    return f"pruned {got['pruned']:.3f}, int8 {got['int8']:.3f} (CPU twin {want['pruned']:.3f}, {want['int8']:.3f})"


def check_pipeline(device: str) -> str:
    recipe = parse_recipe({
        "model": {"name": "mlp", "widths": [64, 64, 10], "batchnorm": True},
        "data": {"name": "digits", "batch_size": 64},
        "train": {"epochs": 3, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "device": device, "quiet": True},
        "stages": ["train", {"channel_prune": {"ratio": 0.5}}, "export_onnx", "int8",
                   {"measure": {"repeats": 3, "batch_sizes": [1, 64], "sensitivity": False}}],
        "report": {"plots": False}}, name="gpu-smoke")
    with tempfile.TemporaryDirectory() as tmp:
        metrics = runner.run(recipe, out=Path(tmp) / "run", quiet=True).metrics
    assert "onnx_error" not in metrics, metrics.get("onnx_error")
    rows = {r["label"]: r["accuracy"] for r in metrics["measure"]["rows"]}
    assert rows["int8"] > rows["train"] - 0.1, rows
    return ", ".join(f"{k} {v:.3f}" for k, v in rows.items())


CHECKS = {"train": check_train, "resume": check_resume, "qat": check_qat, "distill": check_distill,
          "prune_int8": check_prune_int8, "pipeline": check_pipeline}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu for a dry run")
    parser.add_argument("--only", nargs="+", choices=list(CHECKS), default=list(CHECKS))
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_smoke: no CUDA device here; use --device cpu for a dry run", file=sys.stderr)
        return 2
    failed = 0
    for name in args.only:
        t0 = time.perf_counter()
        try:
            line = f"ok    {CHECKS[name](args.device)}"
        except Exception as err:  # one line per failed check, the traceback after it; the others still run
            failed += 1
            line = f"FAIL  {type(err).__name__}: {err}\n{traceback.format_exc()}"
        print(f"{name:<11} {time.perf_counter() - t0:6.1f}s  {line}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
