"""Quantization zoo benchmark: do st.Int8, st.DynamicInt8 and st.export_onnx give a right answer or a clear refusal
on the architectures users bring?

Every model of the zoo (``tests/zoo/zoo_models.py``: tiny random-weight ``transformers`` models, our zoo, the
hand-written op families; BN nets get He-scaled convs and their examples' statistics, ``quant_checks.
settle_batchnorm``) goes through, on two example inputs of different shapes:

- static int8: ``st.quantize(model, st.Int8(), calib_data=[x_a, x_b])`` run by every engine (torch, onnxruntime,
  integer), each within two output steps of its fake-quant simulation; SQNR against the float model;
- dynamic int8: ``st.quantize(model, st.DynamicInt8())``; SQNR against the float model, int8 layers counted;
- ONNX: ``st.export_onnx(model, path, example_inputs=[x_a, x_b])`` run by a plain onnxruntime session on both
  inputs against torch (max error over the outputs' max magnitude); a Hugging Face decoder refused without an
  attention mask is exported again with one (the refusal's advice);
- peer, in the same run: onnxruntime's ``quantize_dynamic`` (QInt8 weights, per channel) on that exported float
  graph, SQNR against torch float.

Statuses: ok, refused (one line of UnsupportedModelError naming what and what to use), unclear (a refusal of
another kind), crash, mismatch (runs, but the outputs are not the float model's: SQNR under the floor, an engine
off its simulation, or ONNX off torch). The SQNR floor is 20 dB (ours/mobilenet_v2: 3 dB, the float model itself
being 5.3 dB from its outputs when only its input is rounded to uint8 steps: a random 53-layer net amplifies any
rounding). Peer statuses: ok (>= 20 dB), low (< 20 dB), crash.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/quant_zoo.py [--only SUBSTRING ...]``.
Prints a table and writes benchmarks/results/quant_zoo.json (not with --only).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "zoo"))
from quant_checks import (  # noqa: E402
    MIN_SQNR_DB,
    check_dynamic,
    check_int8,
    check_onnx,
    main_output,
    settle_batchnorm,
    sqnr_db,
    with_mask,
)
from test_quant_zoo import SQNR_FLOOR  # noqa: E402
from zoo_models import zoo  # noqa: E402

from slimtorch.bench import count_params, threads_note  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "quant_zoo.json"
KINDS = ("int8", "dynamic_int8", "onnx", "peer_ort_dynamic")


def peer_ort_dynamic(path: Path, model: torch.nn.Module, xs: list) -> dict:
    """onnxruntime's ``quantize_dynamic`` of the exported float graph ``path``, run on every example."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    start = time.perf_counter()
    out = path.with_name("peer_int8.onnx")
    quiet = logging.getLogger()
    level, quiet.level = quiet.level, logging.ERROR  # its "consider pre-processing" advice, once per model
    try:
        quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8, per_channel=True)
        sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        worst = math.inf
        for x in xs:
            feeds = {k: v.numpy() for k, v in x.items()} if isinstance(x, dict) else {sess.get_inputs()[0].name:
                                                                                       x.numpy()}
            worst = min(worst, sqnr_db(torch.from_numpy(sess.run(None, feeds)[0]).float(), main_output(model, x)))
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return {"status": "crash", "detail": f"{type(err).__name__}: {first}"[:200], "worst": None,
                "seconds": round(time.perf_counter() - start, 3)}
    finally:
        quiet.level = level
    return {"status": "ok" if worst >= MIN_SQNR_DB else "low", "detail": "", "worst": worst,
            "seconds": round(time.perf_counter() - start, 3)}


def model_row(name: str, build) -> dict:
    model, xs, _ = build()
    settle_batchnorm(model, xs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        row = {"model": name, "class": type(model).__name__, "params": count_params(model),
               "inputs": [list(x.shape) for x in xs],
               "int8": check_int8(model, xs, min_sqnr_db=SQNR_FLOOR.get(name, MIN_SQNR_DB)),
               "dynamic_int8": check_dynamic(model, xs)}
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            row["onnx"] = check_onnx(model, xs, keep=path)
            feeds = xs
            if row["onnx"]["status"] == "refused" and "attention_mask" in row["onnx"]["detail"]:
                path.unlink(missing_ok=True)
                feeds = with_mask(xs)
                row["onnx_with_mask"] = check_onnx(model, feeds, keep=path)
            row["peer_ort_dynamic"] = (peer_ort_dynamic(path, model, feeds) if path.is_file() else
                                       {"status": "no graph", "detail": "", "worst": None, "seconds": 0.0})
    return row


def _cell(r: dict, unit: str) -> str:
    if r.get("layers") == 0 and r["status"] == "ok":
        return "ok: no Linear, stays float (warned)"
    if r["status"] in ("ok", "mismatch", "low") and r.get("worst") is not None:
        w = r["worst"]
        value = f"{w:.1f} dB" if unit == "dB" else f"{w:.1e}"
        return f"{r['status']} {value}" + (f" ({r['layers']} int8)" if "layers" in r and unit == "dB" else "")
    return r["status"]


def table(rows: list[dict]) -> str:
    lines = ["| model | params | Int8 | DynamicInt8 | export_onnx | peer: ORT quantize_dynamic |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        onnx = _cell(r["onnx"], "rel")
        if "onnx_with_mask" in r:
            onnx += f"; with attention_mask: {_cell(r['onnx_with_mask'], 'rel')}"
        lines.append(f"| {r['model']} | {r['params']:,} | {_cell(r['int8'], 'dB')} | {_cell(r['dynamic_int8'], 'dB')} "
                     f"| {onnx} | {_cell(r['peer_ort_dynamic'], 'dB')} |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> dict:
    out: dict = {"models": len(rows)}
    for kind in (*KINDS, "onnx_with_mask"):
        res = [r[kind] for r in rows if kind in r]
        counts: dict[str, int] = {}
        for r in res:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        ok = [r["worst"] for r in res if r["status"] == "ok" and r.get("worst") is not None]
        out[kind] = {"counts": counts, "median_worst": float(f"{sorted(ok)[len(ok) // 2]:.3g}") if ok else None,
                     "seconds": round(sum(r["seconds"] for r in res), 1)}
    refusals: dict[str, list[str]] = {}
    for r in rows:
        for kind in ("int8", "onnx"):
            if r[kind]["status"] == "refused":
                reason = r[kind]["detail"].split(": ", 2)[-1].replace(r["class"], "<model>")
                reason = re.sub(r" \(node '\w+'\)|; supported: .*|; (use )?st.DynamicInt8.*", "", reason)
                reason = re.sub(r" \(input \([^)]*\)\)|: outputs differ by .*|; the model.s forward.*", "", reason)
                refusals.setdefault(f"{kind}: {reason[:110]}", []).append(r["model"])
    out["refusals"] = {k: len(v) for k, v in sorted(refusals.items(), key=lambda kv: -len(kv[1]))}
    return out


def _finite(v):
    """``v`` with every non-finite float written as a string ("inf": outputs equal to float), for strict JSON."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=[])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name, build in zoo().items():
        if args.only and not any(o in name for o in args.only):
            continue
        rows.append(model_row(name, build))
        r = rows[-1]
        print(f"{name:26s} int8 {r['int8']['status']:9s} dynamic {r['dynamic_int8']['status']:9s} "
              f"onnx {r['onnx']['status']:9s} peer {r['peer_ort_dynamic']['status']}", flush=True)
    print()
    print(table(rows))
    import onnxruntime

    out = {"threads": threads_note(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
           "summary": summary(rows), "rows": rows}
    print("\n" + json.dumps(out["summary"], indent=1))
    if not args.only:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(_finite(out), indent=1))
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
