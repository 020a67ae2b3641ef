"""MobileNetV2 (ImageNet weights) pruned after training on unlabeled photo crops, then recovered without labels.

Calibration crops come from one set of bundled photos (plus their mirror images), held-out crops from
another (``slimtorch.data.images.sample_photos``): no photo is in both. Fidelity to the unpruned model
is top-1 agreement on the held-out crops only. Cases per ratio:

* ``plain`` - ChannelPrune over every group (l2), no reconstruction (what a new user tries first);
* ``recon`` - ChannelPrune(reconstruct=True) over every group (activation scores);
* ``hidden`` - the expanded (hidden) channels inside each inverted-residual block only (the residual
  stream, the block outputs and the stem are kept: ``KEEP``), activation scores + reconstruction;
* ``+ recovery`` - ``st.distill`` with alpha=1 from the original (no labels) on the calibration crops,
  best epoch on a held-out part of them, CPU seconds of the process stated;
* peer: torch-pruning (MagnitudePruner, L2, same layers kept, same ratio), the same recovery.

Run by ``benchmarks/post_training.py`` (key ``"mobilenet_v2"`` of results/post_training.json).
"""

from __future__ import annotations

import copy
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

import slimtorch as st
from slimtorch.bench.counts import count_macs, count_params
from slimtorch.bench.fidelity import fidelity
from slimtorch.data import ArrayDataset
from slimtorch.data.images import images, sample_photos

sys.path.insert(0, str(Path(__file__).parent))
from results_file import write_section  # noqa: E402

# the residual stream / block outputs (project convs) and the stem: pruning them is what collapses the model
KEEP = (r"features\.0\.0", r"features\.1\.conv\.1", r"features\.\d+\.conv\.2")


def photos(calib_crops: int, eval_crops: int) -> tuple[torch.Tensor, ArrayDataset]:
    """Calibration crops (+ mirrored) and held-out crops of other photos, 224x224 ImageNet-normalised."""
    with tempfile.TemporaryDirectory() as tmp:
        c = sample_photos(Path(tmp, "calib"), "calib", crops=calib_crops, size=256, seed=0)
        e = sample_photos(Path(tmp, "eval"), "eval", crops=eval_crops, size=256, seed=1)
        xc = torch.from_numpy(images(str(c), test_fraction=0)[0])
        xe = torch.from_numpy(images(str(e), test_fraction=0)[0])
    xc = torch.cat([xc, xc.flip(-1)])  # a mirrored photo is still a natural photo: twice the rows
    return xc, ArrayDataset(xe, torch.full((len(xe),), -1), "photos-eval")


def _channels(model) -> int:
    """Output channels of every conv and linear layer but the classifier."""
    return sum(m.out_channels if isinstance(m, torch.nn.Conv2d) else m.out_features
               for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)
               and not n.startswith("classifier"))


def _row(model, reference, held, example, **extra) -> dict:
    ex1 = example[:1]
    row = {**extra, "channels_removed": 1 - _channels(model) / _channels(reference),
           "params_ratio": count_params(model) / count_params(reference),
           "macs_ratio": count_macs(model, (ex1,)) / count_macs(reference, (ex1,))}
    row.update(fidelity(model, reference, held))
    return row


def prune(reference, case: str, ratio: float, xc: torch.Tensor):
    """A pruned copy of ``reference`` for ``case`` and the seconds it took."""
    model = copy.deepcopy(reference)
    cfg = {"plain": st.ChannelPrune(ratio=ratio, importance="l2"),
           "recon": st.ChannelPrune(ratio=ratio, reconstruct=True),
           "hidden": st.ChannelPrune(ratio=ratio, reconstruct=True, ignore=KEEP)}[case]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = st.prune(model, cfg, example_inputs=xc[:2], calib_data=xc if cfg.needs_calibration else None)
    return model, time.perf_counter() - start


def torch_pruning_peer(reference, ratio: float, xc: torch.Tensor):
    """torch-pruning's MagnitudePruner (L2 group importance) on the same hidden channels, no reconstruction."""
    import torch_pruning as tp

    model = copy.deepcopy(reference)
    keep = [m for n, m in model.named_modules() if any(re.fullmatch(p, n) for p in KEEP)]
    keep.append(model.classifier[1])
    pruner = tp.pruner.MagnitudePruner(model, xc[:2], importance=tp.importance.MagnitudeImportance(p=2),
                                       pruning_ratio=ratio, ignored_layers=keep)
    pruner.step()
    return model.eval()


def recover(model, reference, xc: torch.Tensor, epochs: int, lr: float):
    """Label-free KD (alpha=1) on the calibration crops; returns the model, CPU seconds, the kept epoch."""
    cpu = time.process_time()
    kd = st.Distill(reference, alpha=1.0, temperature=1.0, val_fraction=0.15, patience=2)
    cfg = st.TrainConfig(epochs=epochs, batch_size=32, optimizer="adam", lr=lr, quiet=True, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = st.distill(model, xc, kd, cfg).eval()
    report = st.distill_report(model) or {}
    return model, time.process_time() - cpu, report.get("kept_epoch")


def run(cases: list[tuple[str, float]], calib_crops: int, eval_crops: int, epochs: int, lr: float = 1e-4,
        peer: bool = True) -> tuple[list[dict], object]:
    """Each (case, ratio); the last "hidden" case is recovered, and the peer pruned and recovered alike."""
    xc, held = photos(calib_crops, eval_crops)
    reference = st.models.build("mobilenet_v2", pretrained=True).eval()
    rows, final, last = [], None, max(r for c, r in cases if c == "hidden")
    for case, r in cases:
        model, seconds = prune(reference, case, r, xc)
        rows.append(_row(model, reference, held, xc, case=case, ratio=r, prune_s=round(seconds, 1)))
        print(rows[-1], flush=True)
        if case == "hidden" and r == last and epochs:
            final, cpu_s, kept = recover(model, reference, xc, epochs, lr)
            rows.append(_row(final, reference, held, xc, case="hidden+recovery", ratio=r,
                             recovery_cpu_s=round(cpu_s, 1), kept_epoch=kept))
            print(rows[-1], flush=True)
    if peer:
        model = torch_pruning_peer(reference, last, xc)
        rows.append(_row(model, reference, held, xc, case="torch-pruning", ratio=last))
        print(rows[-1], flush=True)
        if epochs:
            model, cpu_s, kept = recover(model, reference, xc, epochs, lr)
            rows.append(_row(model, reference, held, xc, case="torch-pruning+recovery", ratio=last,
                             recovery_cpu_s=round(cpu_s, 1), kept_epoch=kept))
            print(rows[-1], flush=True)
    for row in rows:
        row.update(calib=len(xc), held_out=len(held))
    return rows, final


def int8_speed(reference, pruned, xc: torch.Tensor, held, repeats: int) -> dict:
    """The pruned model in int8 (st.quantize): fidelity, and speed vs torch eager fp32 (batch 1) and vs
    onnxruntime quantize_static of the same pruned model (batch 16), interleaved, medians with spread."""
    from quantization_peers import ort_static  # benchmarks/ is on sys.path (top of this file)
    from slimtorch.bench.latency import compare_timings, threads_note
    from slimtorch.quantization.backends.onnxruntime import session

    def ort_fn(path: Path, x: torch.Tensor):
        sess = session(Path(path).read_bytes())
        name, arr = sess.get_inputs()[0].name, x.numpy()
        return lambda: sess.run(None, {name: arr})

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qm = st.quantize(copy.deepcopy(pruned), st.Int8(backend="auto", calib_batches=4), xc)
    out = {"fidelity": fidelity(qm, reference, held), "backend": getattr(qm, "backend_note", "")[:200],
           "threads": threads_note()}
    with tempfile.TemporaryDirectory() as tmp:
        fp_path = st.export_onnx(pruned, Path(tmp) / "pruned_fp32.onnx", example_inputs=xc[:2])
        peer = ort_static(fp_path, xc[:64])
        for b in (1, 16):
            x = held.x[:b] if len(held.x) >= b else held.x[:1].repeat(b, 1, 1, 1)
            fns = {"torch eager fp32 (dense)": lambda x=x: reference(x), "ours int8 (pruned)": lambda x=x: qm(x),
                   "onnxruntime quantize_static (pruned)": ort_fn(peer, x)}
            with torch.no_grad():
                t = compare_timings(fns, repeats=repeats, warmup=2)
            base = t["torch eager fp32 (dense)"].median
            out[f"batch{b}"] = {k: {"median_ms": v.median * 1e3, "min_ms": v.min * 1e3,
                                    "iqr_ms": v.iqr * 1e3, "x_vs_torch_fp32": base / v.median}
                                for k, v in t.items()}
    return out


def section(quick: bool, threads: int) -> dict:
    """The "mobilenet_v2" section: the pruning table, then int8 of the recovered model."""
    # "plain"/"recon" cut every group by the ratio; "hidden" only the expanded channels, so it needs a larger
    # ratio for the same MACs (0.45 of the hidden channels is ~35% of all channels, MACs ~0.58x)
    cases = [("plain", 0.3), ("hidden", 0.45)] if quick else \
        [(c, r) for r in (0.1, 0.2, 0.3) for c in ("plain", "recon")] + [("hidden", r) for r in (0.15, 0.3, 0.45)]
    rows, final = run(cases, 8 if quick else 16, 6 if quick else 12, epochs=2 if quick else 4)
    out = {"threads": threads, "torch": torch.__version__, "keep": list(KEEP), "rows": rows}
    if final is not None:
        reference = st.models.build("mobilenet_v2", pretrained=True).eval()
        xc, held = photos(8 if quick else 16, 6 if quick else 12)
        out["int8"] = int8_speed(reference, final, xc, held, repeats=5 if quick else 11)
    return out


def write(section: dict, path: Path) -> None:
    """Read-modify-write of the results file: only the "mobilenet_v2" key changes."""
    write_section(path, "mobilenet_v2", section)


def table(section: dict) -> None:
    """Print the section as a table."""
    print(f"\nMobileNetV2 on held-out photo crops (torch threads {section['threads']})")
    print(f"{'case':<26}{'ratio':>6}{'MACs':>7}{'params':>8}{'agree':>7}{'top5':>7}{'KL':>7}")
    for r in section["rows"]:
        print(f"{r['case']:<26}{r['ratio']:>6}{r['macs_ratio']:>7.2f}{r['params_ratio']:>8.2f}"
              f"{r['agreement_top1']:>7.3f}{r['agreement_top5']:>7.3f}{r['kl']:>7.2f}")
    for b in ("batch1", "batch16"):
        for name, t in section.get("int8", {}).get(b, {}).items():
            print(f"{b:<8}{name:<40}{t['median_ms']:8.1f} ms (IQR {t['iqr_ms']:.1f})  {t['x_vs_torch_fp32']:.2f}x")
