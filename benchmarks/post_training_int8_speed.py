"""MobileNetV2 int8 speed: slimtorch's int8 of the pruned model against torch eager fp32 and onnxruntime's own int8.

Speed does not depend on weight values, so the model (ImageNet weights) is pruned without reconstruction:
``ChannelPrune`` over the hidden channels of each inverted-residual block (the layers of
``post_training_images.KEEP`` kept, as in that benchmark), ratio 0.45 by default (MACs ~0.58x). Calibration
uses the same photo crops for slimtorch and for onnxruntime's ``quantize_static`` (QDQ, per-channel int8
weights, uint8 activations, MinMax); timing uses held-out crops of other photos.

Candidates, timed round-robin in one process (torch and onnxruntime with the same thread count, onnxruntime's
threads not spinning), at batch 1 and 16:

* ``torch eager fp32 (dense)``: the baseline of every ratio;
* ``onnxruntime fp32 (dense)``; ``onnxruntime quantize_static (dense)``: the peer on the unpruned model;
* ``onnxruntime quantize_static (pruned)``: the peer on our pruned model;
* ``slimtorch int8 (pruned)``: ``st.quantize(pruned, st.Int8())`` written by ``st.export_onnx``, run by
  onnxruntime (the graph the ``onnxruntime`` backend runs); beside it the same graph without the channel
  padding of ``slimtorch.quantization.channel_pad`` (what the padding gains).

Each row keeps median, IQR and min over the rounds; ratios are given on medians and on minima (the least
disturbed round: a loaded machine inflates medians unevenly). The ops onnxruntime runs after its graph
optimization are listed for both int8 graphs, and our graph's outputs are checked against our fake-quant
simulation (in output steps) on the held-out crops.

    python benchmarks/post_training_int8_speed.py [--quick] [--threads N] [--ratio R] [--repeats N]

writes the key ``"mobilenet_v2_int8_speed"`` of ``benchmarks/results/post_training.json``.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

import slimtorch as st
from slimtorch.bench.counts import count_macs
from slimtorch.bench.latency import compare_timings, threads_note
from slimtorch.bench.machine import available_cpus, machine_load
from slimtorch.data.images import images, sample_photos
from slimtorch.quantization.backends.onnxruntime import optimized_ops, session
from slimtorch.quantization.onnx_compat import make_loadable
from slimtorch.quantization.qdq import qdq_model

sys.path.insert(0, str(Path(__file__).parent))
from post_training_images import KEEP  # noqa: E402
from quantization_peers import ort_static  # noqa: E402
from results_file import write_section  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "post_training.json"
KEY = "mobilenet_v2_int8_speed"
BASE, OURS, PEER = "torch eager fp32 (dense)", "slimtorch int8 (pruned)", "onnxruntime quantize_static (pruned)"
UNPADDED = "slimtorch int8 (pruned, widths unpadded)"  # the same graph without channel_pad: what padding gains
SHOWN_OPS = ("QLinearConv", "QLinearAdd", "QGemm", "QuantizeLinear", "DequantizeLinear", "Pad", "Conv", "Add", "Clip",
             "Transpose")


def crops(part: str, n: int, seed: int) -> torch.Tensor:
    """``n`` random 224x224 crops (ImageNet-normalised) of each bundled photo of ``part`` ("calib" or "eval")."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = sample_photos(Path(tmp, part), part, crops=n, size=256, seed=seed)
        return torch.from_numpy(images(str(folder), test_fraction=0)[0])


def build(ratio: float, calib_crops: int, eval_crops: int) -> dict:
    """The dense and pruned models, our int8 model and the calibration / held-out crops."""
    reference = st.models.build("mobilenet_v2", pretrained=True).eval()
    xc, held = crops("calib", calib_crops, 0), crops("eval", eval_crops, 1)
    xc = torch.cat([xc, xc.flip(-1)])  # mirrored crops: twice the calibration rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = st.prune(copy.deepcopy(reference), st.ChannelPrune(ratio=ratio, ignore=KEEP),
                          example_inputs=xc[:2]).eval()
        t0 = time.perf_counter()
        qm = st.quantize(copy.deepcopy(pruned), st.Int8(backend="onnxruntime", calib_batches=math.ceil(len(xc) / 32)),
                         xc)
        quantize_s = time.perf_counter() - t0
    macs = count_macs(pruned, xc[:1]) / count_macs(reference, xc[:1])
    return {"reference": reference, "pruned": pruned, "qm": qm, "xc": xc, "held": held, "macs_ratio": macs,
            "quantize_s": quantize_s}


def onnx_files(m: dict, tmp: Path) -> dict[str, Path]:
    """Every onnxruntime candidate as a file: fp32 exports, the peer's int8 of each, and ours."""
    ref_fp32 = st.export_onnx(m["reference"], tmp / "dense_fp32.onnx", example_inputs=m["xc"][:2])
    pruned_fp32 = st.export_onnx(m["pruned"], tmp / "pruned_fp32.onnx", example_inputs=m["xc"][:2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer_dense, peer_pruned = ort_static(ref_fp32, m["xc"]), ort_static(pruned_fp32, m["xc"])
    unpadded = tmp / "ours_int8_unpadded.onnx"
    onnx.save(make_loadable(qdq_model(m["qm"], pad_channels=False)), str(unpadded))
    return {"onnxruntime fp32 (dense)": ref_fp32, "onnxruntime quantize_static (dense)": peer_dense,
            PEER: peer_pruned, "onnxruntime fp32 (pruned)": pruned_fp32,
            OURS: st.export_onnx(m["qm"], tmp / "ours_int8.onnx"), UNPADDED: unpadded}


def checks(m: dict, files: dict[str, Path], threads: int) -> dict:
    """Our graph against our fake-quant simulation, both int8 graphs against the pruned fp32 model, and what
    onnxruntime runs of each int8 graph."""
    x = m["held"]
    run = {k: session(files[k].read_bytes(), threads).run(None, {"input": x.numpy()})[0] for k in (OURS, PEER)}
    sim = m["qm"].simulate(x).float().numpy()
    step = m["qm"].act(m["qm"].ops[-2]["out"])[0]
    with torch.no_grad():
        fp = m["pruned"](x).numpy()
    steps = np.abs(run[OURS] - sim) / step
    return {
        "ours_vs_simulation_steps": {"max": float(steps.max()), "mean": float(steps.mean()),
                                     "top1_agreement": float((run[OURS].argmax(1) == sim.argmax(1)).mean())},
        "top1_agreement_with_pruned_fp32": {k: float((v.argmax(1) == fp.argmax(1)).mean()) for k, v in run.items()},
        "onnxruntime_ops": {k: {op: n for op, n in optimized_ops(files[k].read_bytes()).items() if op in SHOWN_OPS}
                            for k in (OURS, PEER)},
        "held_out_crops": len(x),
    }


def _rows(x: torch.Tensor, b: int) -> torch.Tensor:
    return x[torch.arange(b) % len(x)].contiguous()


def _versus(ours, other) -> dict:
    """How many times faster ``ours`` is than ``other``, on medians and on minima, and whether the IQRs overlap."""
    return {"median": other.median / ours.median, "min": other.min / ours.min,
            "iqr_overlap": not (ours.q3 < other.q1 or other.q3 < ours.q1)}


def time_batch(m: dict, files: dict[str, Path], b: int, threads: int, repeats: int, warmup: int) -> dict:
    """All candidates at batch ``b``, interleaved: per row median/IQR/min, ratios vs torch and ours vs the peer."""
    x = _rows(m["held"], b)
    arr = x.numpy()
    fns = {BASE: lambda: m["reference"](x)}
    for name, path in files.items():
        sess = session(path.read_bytes(), threads)
        fns[name] = lambda sess=sess: sess.run(None, {"input": arr})
    before = machine_load(threads)
    t = compare_timings(fns, repeats=repeats, warmup=warmup)
    after = machine_load(threads)
    base = t[BASE]
    rows = {k: {"median_ms": v.median * 1e3, "iqr_ms": v.iqr * 1e3, "q1_ms": v.q1 * 1e3, "q3_ms": v.q3 * 1e3,
                "min_ms": v.min * 1e3, "x_vs_torch_fp32": base.median / v.median,
                "x_vs_torch_fp32_min": base.min / v.min} for k, v in t.items()}
    return {"rows": rows, "rounds": repeats,
            "ours_vs_peer_pruned": _versus(t[OURS], t[PEER]), "padded_vs_unpadded": _versus(t[OURS], t[UNPADDED]),
            "load_before": before.to_dict(), "load_after": after.to_dict(), "loadavg": list(os.getloadavg())}


def section(quick: bool, threads: int, ratio: float, repeats: int | None) -> dict:
    """The ``mobilenet_v2_int8_speed`` section."""
    torch.set_num_threads(threads)
    m = build(ratio, 4 if quick else 8, 3 if quick else 6)
    repeats = repeats or (5 if quick else 15)
    out = {"threads": threads, "threads_note": threads_note(), "cpus": available_cpus(), "quick": quick,
           "torch": torch.__version__, "onnxruntime": __import__("onnxruntime").__version__,
           "prune": {"ratio": ratio, "ignore": list(KEEP), "reconstruct": False, "macs_ratio": m["macs_ratio"]},
           "calibration_crops": len(m["xc"]), "quantize_s": round(m["quantize_s"], 1)}
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        files = onnx_files(m, Path(tmp))
        out["checks"] = checks(m, files, threads)
        for b in (1, 16):
            out[f"batch{b}"] = time_batch(m, files, b, threads, repeats, warmup=1 if quick else 2)
            print(f"batch {b} done ({time.strftime('%H:%M:%S')})", flush=True)
    return out


def table(sec: dict) -> None:
    """Print the section as a table."""
    print(f"\nMobileNetV2 int8 speed ({sec['threads_note']}, onnxruntime threads {sec['threads']}; pruned MACs "
          f"{sec['prune']['macs_ratio']:.2f}x, ratio {sec['prune']['ratio']})")
    for b in ("batch1", "batch16"):
        s = sec[b]
        lb, la = s["load_before"], s["load_after"]
        print(f"{b}: {s['rounds']} rounds, 1-min load {lb['load_1min']:.2f} -> {la['load_1min']:.2f}, "
              f"others running {lb['others_running']:g} -> {la['others_running']:g}")
        print(f"  {'candidate':<40}{'median':>9}{'IQR':>8}{'min':>9}{'x torch':>9}{'x (min)':>9}")
        for name, r in s["rows"].items():
            print(f"  {name:<40}{r['median_ms']:9.2f}{r['iqr_ms']:8.2f}{r['min_ms']:9.2f}"
                  f"{r['x_vs_torch_fp32']:9.2f}{r['x_vs_torch_fp32_min']:9.2f}")
        for key, what in (("ours_vs_peer_pruned", "ours vs quantize_static (pruned)"),
                          ("padded_vs_unpadded", "ours vs ours unpadded")):
            v = s[key]
            print(f"  {what}: {v['median']:.2f}x on medians, {v['min']:.2f}x on minima"
                  f"{' (IQRs overlap)' if v['iqr_overlap'] else ''}")
    c = sec["checks"]
    print(f"ours vs simulation: max {c['ours_vs_simulation_steps']['max']:.2f} steps, top-1 agreement "
          f"{c['ours_vs_simulation_steps']['top1_agreement']:.3f}; ops run: {c['onnxruntime_ops']}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer crops and rounds")
    p.add_argument("--threads", type=int, default=None, help="torch and onnxruntime threads (default: min(2, CPUs))")
    p.add_argument("--ratio", type=float, default=0.45, help="ChannelPrune ratio over the hidden channels")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds (default 5 quick, 15 full)")
    p.add_argument("--no-write", action="store_true", help="print only, leave the results file alone")
    args = p.parse_args(argv)
    threads = args.threads or min(2, available_cpus())
    sec = section(args.quick, threads, args.ratio, args.repeats)
    table(sec)
    if not args.no_write:
        write_section(RESULTS, KEY, sec)
        print(f"wrote {RESULTS} [{KEY!r}]")


if __name__ == "__main__":
    main()
