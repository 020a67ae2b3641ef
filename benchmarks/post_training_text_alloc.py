"""MiniLM: the 25% cut allocated across blocks and kinds by measured sensitivity, against the uniform cut.

``post_training_text.py`` cuts 25% of the heads and FFN neurons of every block (activation scores, then the
encoder reconstruction). Here each (block, kind) is first cut alone at a few ratios (heads 3/5/7 of 12, FFN
25/40/55%), the output projections re-solved on ``N_SENS_SOLVE`` of the reconstruction's sentences, and the
embedding cosine loss measured on ``N_SENS_VAL`` other fortune *calibration* sentences (the last ones of that
half: never a held-out sentence); :func:`slimtorch.pruning.encoder_alloc.allocate_encoder` then picks one ratio
per (block, kind) that removes at least as many parameters as the uniform cut (the budget: parameters, which
are also the linear layers' MACs per token; MACs on the paraphrase batch are reported beside) with the least
summed loss. Both cuts are then made as the benchmark makes its own (``_solve``: scores on its calibration
sentences, projections re-solved on all its reconstruction sentences) and scored on its two held-out sets;
with ``--recovery-epochs N`` both also get the benchmark's label-free recovery (``_recover``; the teacher's outputs
cached: the same numbers, a third less time). ``--recovery-text wide`` recovers on every short sentence of the
calibration side instead of the benchmark's 3000 (:func:`_wide_pool`), ``wide+splices`` adds spans and splices
of the 3000 (:func:`_splices`). ``--reuse`` takes the
sensitivity table of the results file and measures only the candidate ratios it lacks (the allocation reads only
``CANDIDATES``' ratios of it).
Results go to benchmarks/results/post_training.json under the key "minilm_alloc" only.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/post_training_text_alloc.py [--reuse] [--recovery-epochs N]
        [--recover allocated] [--recovery-text wide|wide+splices] [--int8 [fidelity]]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from pathlib import Path

import torch

import slimtorch as st
from slimtorch.bench.counts import count_macs, count_params
from slimtorch.data.sentences import more_sentences, offline_sentences
from slimtorch.data.text import encode
from slimtorch.pruning.encoder_alloc import allocate_encoder, encoder_sensitivity

sys.path.insert(0, str(Path(__file__).parent))
import post_training_text as pt  # noqa: E402
from quantization_sentences import SENTENCES  # noqa: E402
from results_file import write_section  # noqa: E402

KEY = "minilm_alloc"
# heads 9/12 and FFN 10%/70% added (54 cuts, +50% time) moved the knapsack's predicted loss 0.0349 -> 0.0345 only;
# held out it gave paraphrase 0.965 / NN 0.833, fortunes 0.965 / NN 0.615 against 0.962 / 0.833, 0.965 / 0.650
CANDIDATES = {"heads": (3 / 12, 5 / 12, 7 / 12), "ffn": (0.25, 0.40, 0.55)}
N_SENS_SOLVE, N_SENS_VAL = 800, 300  # sensitivity: solve sentences (a seeded sample), validation sentences


def _sensitivity(reference, calib, solve_sentences: list[str], held_text: set[str], stored: dict | None) -> dict:
    """The table for ``CANDIDATES``: the ratios ``stored`` (a previous run's table) lacks are measured and added."""
    have = {k: set(map(float, row)) for k, row in (stored or {}).get("cosine_loss", {}).items()}
    missing = {kind: tuple(r for r in rs if not have or any(r not in v for k, v in have.items() if k.endswith(kind)))
               for kind, rs in CANDIDATES.items()}
    if not any(missing.values()):
        return stored
    order = list(solve_sentences)
    random.Random(0).shuffle(order)
    order = order[:N_SENS_SOLVE]
    solve = [encode(order[i:i + 32]) for i in range(0, len(order), 32)]
    val = offline_sentences("calib")[-N_SENS_VAL:]
    assert not (set(val) | set(order)) & held_text, "the allocation must not read a held-out sentence"
    start = time.perf_counter()
    errors, saved = encoder_sensitivity(reference, missing, pt.SENTENCES_X[:4], calib, solve, encode(val))
    table = {}
    for name, new in (("cosine_loss", errors), ("params_removed", saved)):  # each row keeps what was measured before
        old = (stored or {}).get(name, {})
        table[name] = {k: {**old.get(k, {}), **{str(r): v for r, v in row.items()}} for k, row in new.items()}
    seconds = (stored or {}).get("seconds", 0) + time.perf_counter() - start
    return {"seconds": round(seconds, 1), "solve_sentences": len(order), "val_sentences": len(val), **table}


def _splices(sentences: list[str], n: int, seed: int = 0) -> list[str]:
    """``n`` new inputs made of ``sentences``: a word span of one (half of them, sentences of 8+ words) or the first
    half of one joined to the second half of another. The teacher embeds anything, so label-free recovery can
    learn its function on text no corpus holds."""
    rng, out = random.Random(seed), []
    while len(out) < n:
        a = rng.choice(sentences).split()
        if rng.random() < 0.5 and len(a) >= 8:
            k = rng.randint(5, len(a) - 1)
            i = rng.randint(0, len(a) - k)
            out.append(" ".join(a[i:i + k]))
        else:
            b = rng.choice(sentences).split()
            out.append(" ".join(a[:max(3, len(a) // 2)] + b[len(b) // 2:]))
    return out


def _wide_pool(solve_sentences: list[str], pool: list[str], held_text: set[str], splices: bool) -> list[str]:
    """The recovery sentences, then every other short one (``pt.MAX_TOKENS``) of the calibration side: the
    reconstruction's own, the rest of the fortune calibration half and :func:`more_sentences`; with ``splices``
    also as many :func:`_splices` of the recovery sentences as there are of them; a seeded shuffle.

    With the 3000 alone, 16 epochs (681 CPU-s) ended at a training cosine loss of 0.003 against 0.025 on the
    validation rows (held out: paraphrases 0.970, fortunes 0.973): the student learns those sentences more than
    the teacher's function. On these (about 7000) 7 epochs (695 CPU-s) held 0.974 / 0.976; with 3000 splices
    (about 9950) 5 epochs (728 CPU-s) held 0.974 / 0.976 and fortune NN 0.775 against 0.725. A relational term (the
    student's cosine similarities to the teacher's embeddings of other rows, in-batch or a 1024-row memory
    bank, KL of softmaxes at T=0.05 or MSE) did not help: 0.9734 / 0.9757, NN 0.833 / 0.715 at weight 0.02
    against 0.9736 / 0.9759, 0.833 / 0.725 without; larger weights lowered the cosine.
    """
    used = set(solve_sentences) | set(pool)
    extra = solve_sentences + [s for s in offline_sentences("calib") if s not in used] + more_sentences()
    short = [s for s, ids in zip(extra, encode(extra)) if int((ids != 0).sum()) <= pt.MAX_TOKENS]
    out = list(dict.fromkeys(pool + short + (_splices(pool, len(pool)) if splices else [])))
    random.Random(1).shuffle(out)
    assert not set(out) & held_text, "recovery must not read a held-out sentence"
    return out


def _row(model, reference, held, macs_x) -> dict:
    return {"params": count_params(model), "macs": count_macs(model, macs_x), "widths": pt._widths(model),
            **pt._scores(model, reference, held)}


def _floats(table: dict) -> dict:
    """JSON keys come back as strings: ratios back to floats, only the ``CANDIDATES`` ones."""
    return {k: {float(r): v for r, v in row.items() if float(r) in CANDIDATES[k.rpartition(".")[2]]}
            for k, row in table.items()}


def run(reuse: bool, epochs: int, recover: str = "both", int8: str | None = None, text: str = "fortunes",
) -> dict:
    calib_sentences, solve_sentences, pool = pt._sentences(False)
    held = {"paraphrase pairs (60)": pt._held(SENTENCES[60:], "sentences-eval"),
            "fortunes eval (200)": pt._held(offline_sentences("eval", 200), "fortunes-eval")}
    held_text = set(SENTENCES[60:]) | set(offline_sentences("eval", 200))
    pool = _wide_pool(solve_sentences, pool, held_text, text.endswith("splices")) if text != "fortunes" else pool
    calib, macs_x = pt._batches(calib_sentences), encode(SENTENCES[60:])
    reference = st.models.build("minilm").eval()
    old = json.loads(pt.OUT.read_text()).get(KEY, {}) if pt.OUT.is_file() else {}
    stored = old.get("sensitivity") if reuse else None
    sens = _sensitivity(reference, calib, solve_sentences, held_text, stored)
    print(json.dumps(sens, indent=1), flush=True)
    if sens is not stored:  # the expensive part: kept even if a later step fails
        write_section(pt.OUT, KEY, {"partial": True, "candidates": CANDIDATES, "sensitivity": sens})
    uniform, secs_u = pt._solve(reference, calib, solve_sentences)
    need = count_params(reference) - count_params(uniform)
    ratios = allocate_encoder(reference, _floats(sens["cosine_loss"]), _floats(sens["params_removed"]), need)
    cfg = st.ChannelPrune(ratio=0.0, importance=pt.CONFIG.importance, reconstruct=True, ratios=ratios)
    allocated, secs_a = pt._solve(reference, calib, solve_sentences, cfg)
    section = {"budget": "parameters removed >= the uniform cut's (= linear MACs per token)",
               "params_original": count_params(reference), "macs_original": count_macs(reference, macs_x),
               "macs_input": f"the {len(macs_x)} paraphrase sentences, {macs_x.shape[1]} tokens",
               "candidates": CANDIDATES, "sensitivity": sens, "ratios": ratios,
               "uniform": {"seconds": round(secs_u, 1), **_row(uniform, reference, held, macs_x)},
               "allocated": {"seconds": round(secs_a, 1), **_row(allocated, reference, held, macs_x)}}
    print(json.dumps({k: section[k] for k in ("ratios", "uniform", "allocated")}, indent=1), flush=True)
    if recover == "allocated" and "uniform + label-free distillation" in old:  # the uniform row is not redone
        section["uniform + label-free distillation"] = old["uniform + label-free distillation"]
    if epochs:
        pool_x = encode(pool)
        for name, model in (("allocated", allocated), ("uniform", uniform))[:2 if recover == "both" else 1]:
            cpu = time.process_time()
            rec, secs, report = pt._recover(copy.deepcopy(model), reference, pool_x, epochs, pt.LR, cache=True)
            section[f"{name} + label-free distillation"] = {
                "seconds": round(secs, 1), "cpu_seconds": round(time.process_time() - cpu, 1), "epochs": epochs,
                "lr": pt.LR, "text": text, "sentences": len(pool),
                "kept_epoch": report.get("kept_epoch"), "val_cosine": [round(v["cosine_mean"], 4) for v in
                                                                       report.get("val_fidelity", [])],
                **pt._scores(rec, reference, held)}
            print(name, json.dumps(section[f"{name} + label-free distillation"]), flush=True)
            write_section(pt.OUT, KEY, section)  # each recovery kept as it ends (minutes each)
            if name == "allocated" and int8:  # the deployed form: int8 fidelity and batch-32 speed, as the benchmark
                if int8 == "speed":
                    torch.set_num_threads(pt.THREADS)  # the benchmark's speed section runs on its threads
                    speed, timed = pt._speed(reference, rec, encode(calib_sentences), 11)
                else:  # latency depends on the widths only: an earlier timing of the same widths stays valid
                    timed, speed = pt._pruned_fast(rec, encode(calib_sentences)), old.get("allocated speed")
                    if speed and old.get("allocated", {}).get("widths") == section["allocated"]["widths"]:
                        speed = {**speed, "timed": "in an earlier run, same widths (--int8 fidelity times nothing)"}
                for label, key in (("torch dynamic int8", "torch dynamic int8 pruned"),
                                   ("ORT dynamic int8 (per channel)", "ORT dynamic int8 pruned (ours)")):
                    section[f"allocated + {label}"] = pt._scores(timed[key], reference, held)
                if speed:
                    section["allocated speed"] = speed
                print(json.dumps({k: v for k, v in section.items() if k.startswith("allocated +")}), flush=True)
                write_section(pt.OUT, KEY, section)
    return section


def table(section: dict) -> None:
    print("\nMiniLM, 25% of the heads + FFN parameters removed: uniform vs sensitivity-allocated")
    for name in [k for k in section if k.startswith(("uniform", "allocated"))]:
        row = section[name]
        size = f"params {row['params']}  MACs {row['macs']}  " if "params" in row else ""
        cells = "  ".join(f"{h[:10]}: cos {v['cosine_mean']:.4f} / worst {v['cosine_min']:.4f} / "
                          f"NN {v['nn_agreement']:.3f}" for h, v in row.items()
                          if isinstance(v, dict) and "cosine_mean" in v)  # "allocated speed" holds timings
        print(f"{name:<36}{size}{cells}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reuse", action="store_true", help="reuse the sensitivity table of the results file")
    ap.add_argument("--recovery-epochs", type=int, default=0, help="label-free distillation epochs (0: none)")
    ap.add_argument("--recover", choices=("both", "allocated"), default="both",
                    help="which cuts get the recovery (the uniform one's is the benchmark's own \"minilm\" result)")
    ap.add_argument("--recovery-text", choices=("fortunes", "wide", "wide+splices"), default="fortunes",
                    help="the benchmark's 3000 recovery sentences, or every short calibration-side one (_wide_pool), "
                    "or those and splices of the 3000 (_splices)")
    ap.add_argument("--int8", nargs="?", const="speed", choices=("speed", "fidelity"), default=None,
                    help="the recovered allocated cut also in dynamic int8 (torch, onnxruntime): fidelity and the "
                    "benchmark's batch-32 speed section; 'fidelity': no timing (the last run's speed rows are kept "
                    "when the widths are the same)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    section = run(args.reuse, args.recovery_epochs, args.recover, args.int8, args.recovery_text)
    write_section(pt.OUT, KEY, section)
    table(section)


if __name__ == "__main__":
    main()
