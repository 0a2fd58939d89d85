"""etdecl against what users would run instead, on the quickstart's exact split and settings.

Systems, each in its own process, interleaved over rounds:
  etdecl         `etdecl train recipes/quickstart.yaml` (+ the `--set` overrides given here)
  bare           a hand-written PyTorch loop: AutoModel + mean pooling + dropout + linear,
                 AdamW (no decay on biases/LayerNorm), linear warmup/decay, clipping
  trainer        Hugging Face `Trainer`, its defaults plus the recipe's hyper-parameters
  trainer-bf16   the same with `bf16=True`
All read the same examples (etdecl's reader: same rows, same dev split), tokenise with the
same tokenizer and max_length, and train MiniLM-L6 with mean pooling for the recipe's epochs,
batch size, lr, warmup, weight decay, clipping and seed.

Figures: process wall time (start to exit: loading, tokenising, training, evaluating),
examples/s over the training loop alone (etdecl: loop minus its dev evaluations and
checkpoints; Trainer: its train_runtime; bare: its loop), and dev accuracy. Ratios are
against `trainer` of the same round, median over rounds.

    python bench/vs_trainer.py [--rounds 2] [--quick] [--limit N] [--set KEY=VALUE ...]
    python bench/vs_trainer.py --profile 12 [--set ...]   # where etdecl's step time goes

Defaults (4 systems x 2 rounds, the whole quickstart) take about 12-15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RECIPE = ROOT / "recipes" / "quickstart.yaml"
SYSTEMS = ["etdecl", "bare", "trainer", "trainer-bf16"]


# ── the shared setting ───────────────────────────────────────────────────────────────────

def setting(overrides: list[str]) -> dict:
    """The recipe's split, labels and hyper-parameters, as plain values."""
    from etdecl.data.examples import load_splits
    from etdecl.recipe import load_recipe
    from etdecl.recipe.aliases import resolve_model

    loaded = load_recipe(RECIPE, overrides)
    r = loaded.recipe
    (head, cfg), = r.heads.items()
    splits = load_splits(loaded)
    enc = next(iter(r.encoders.values()))

    def rows(examples) -> tuple[list[str], list[int]]:
        return ([e.inputs["text"] for e in examples],
                [int(e.targets[head]) for e in examples])

    return {"train": rows(splits.train), "dev": rows(splits.dev), "labels": cfg.labels,
            "model": str(resolve_model(enc.model)), "max_length": r.data.max_length,
            "t": r.train, "dropout": cfg.dropout}


def build(s: dict):
    import torch
    import torch.nn.functional as F
    from torch import nn
    from transformers import AutoModel, AutoTokenizer

    class MeanPoolClassifier(nn.Module):
        """What the recipe builds: encoder, mask-weighted mean, dropout, linear."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(s["model"])
            self.dropout = nn.Dropout(s["dropout"])
            self.proj = nn.Linear(self.encoder.config.hidden_size, len(s["labels"]))

        def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None):
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            logits = self.proj(self.dropout((h * m).sum(1) / m.sum(1).clamp_min(1.0)))
            out = {"logits": logits}
            if labels is not None:
                out["loss"] = F.cross_entropy(logits.float(), labels)
            return out

    torch.manual_seed(s["t"].seed)
    tok = AutoTokenizer.from_pretrained(s["model"])

    def encode(part: str) -> list[dict]:
        texts, ys = s[part]
        enc = tok(texts, truncation=True, max_length=s["max_length"])
        return [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
                 "token_type_ids": enc["token_type_ids"][i], "labels": ys[i]}
                for i in range(len(texts))]

    return MeanPoolClassifier(), tok, encode("train"), encode("dev")


def accuracy(logits, labels) -> float:
    import numpy as np

    return float((np.asarray(logits).argmax(-1) == np.asarray(labels)).mean())


def run_bare(s: dict) -> dict:
    import torch
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding

    t = s["t"]
    model, tok, train, dev = build(s)
    collate = DataCollatorWithPadding(tok)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    rest = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=t.lr)
    loader = DataLoader(train, batch_size=t.batch_size, shuffle=True, collate_fn=collate,
                        generator=torch.Generator().manual_seed(t.seed))
    total = len(loader) * t.epochs
    warm = int(round(t.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: (k + 1) / max(1, warm) if k < warm else
        max(0.0, (total - k) / max(1, total - warm)))
    started = time.perf_counter()
    model.train()
    for _ in range(t.epochs):
        for batch in loader:
            loss = model(**batch)["loss"]
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.clip_grad_norm or 1e9)
            opt.step()
            sched.step()
            opt.zero_grad()
    loop = time.perf_counter() - started
    model.eval()
    logits, ys = [], []
    with torch.no_grad():
        for batch in DataLoader(dev, batch_size=t.eval_batch_size, collate_fn=collate):
            logits.append(model(**{k: v for k, v in batch.items() if k != "labels"})["logits"])
            ys.append(batch["labels"])
    return {"loop_s": loop, "examples": len(train) * t.epochs,
            "accuracy": accuracy(torch.cat(logits), torch.cat(ys))}


def run_trainer(s: dict, bf16: bool) -> dict:
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    t = s["t"]
    model, tok, train, dev = build(s)
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="etdecl-bench-hf-"), num_train_epochs=t.epochs,
        per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=t.eval_batch_size,
        learning_rate=t.lr, warmup_ratio=t.warmup, weight_decay=t.weight_decay,
        max_grad_norm=t.clip_grad_norm or 1e9, seed=t.seed, bf16=bf16, use_cpu=True,
        report_to=[], save_strategy="no", logging_strategy="no", disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=dev,
                      data_collator=DataCollatorWithPadding(tok))
    out = trainer.train()
    pred = trainer.predict(dev)
    return {"loop_s": out.metrics["train_runtime"], "examples": len(train) * t.epochs,
            "accuracy": accuracy(pred.predictions, pred.label_ids)}


def run_etdecl(tmp: Path, overrides: list[str], env: dict[str, str]) -> dict:
    cmd = [sys.executable, "-m", "etdecl.cli", "train", str(RECIPE), "--run-dir", str(tmp)]
    for o in overrides:
        cmd += ["--set", o]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"etdecl train failed:\n{proc.stderr[-3000:]}")
    result = json.loads((tmp / "result.json").read_text())
    timing = result["timing"]
    return {"loop_s": timing["wall_s"] - timing["eval_checkpoint_s"],
            "examples": timing["examples"], "compile_s": timing["compile_s"],
            "accuracy": result["last_eval"][result["metric"]]}


def worker(system: str, overrides: list[str]) -> None:
    s = setting(overrides)
    out = run_bare(s) if system == "bare" else run_trainer(s, system == "trainer-bf16")
    print("RESULT " + json.dumps(out), flush=True)


def run_system(system: str, tmp: Path, overrides: list[str], etdecl_set: list[str],
               env: dict[str, str]) -> dict:
    started = time.perf_counter()
    if system == "etdecl":
        out = run_etdecl(tmp, overrides + etdecl_set, env)
    else:
        cmd = [sys.executable, __file__, "--worker", system]
        for o in overrides:
            cmd += ["--set-all", o]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            raise SystemExit(f"{system} failed:\n{proc.stderr[-3000:]}")
        out = json.loads(line[len("RESULT "):])
    out["process_s"] = time.perf_counter() - started
    out["examples_per_s"] = out["examples"] / out["loop_s"]
    return out


# ── where etdecl's step time goes ────────────────────────────────────────────────────────

def profile(steps: int, overrides: list[str]) -> None:
    """Run etdecl's own loop pieces for `steps` steps under torch.profiler; print the phases'
    share (batch, forward+loss, backward, clip+optimizer) and the top operators."""
    import torch
    from torch.profiler import ProfilerActivity, record_function

    from etdecl.engine.launch import init_distributed
    from etdecl.engine.trainer import Trainer
    from etdecl.quiet import quiet_third_party
    from etdecl.recipe import load_recipe

    quiet_third_party()
    tmp = Path(tempfile.mkdtemp(prefix="etdecl-bench-prof-"))
    loaded = load_recipe(RECIPE, overrides)
    init_distributed(loaded.recipe.train.seed, single=True)
    tr = Trainer(loaded, tmp / "run")
    tr.setup()
    tr.model.train()
    phases = dict.fromkeys(["batch", "forward+loss", "backward", "clip+optimizer"], 0.0)
    it = iter(tr.batches.epoch(0))
    with torch.profiler.profile(activities=[ProfilerActivity.CPU]) as prof:
        for k in range(steps + 2):
            marks = [time.perf_counter()]
            with record_function("batch"):
                (batch,) = next(it)
            marks.append(time.perf_counter())
            with record_function("forward+loss"):
                loss = tr.criterion(tr._forward(batch), batch)
            marks.append(time.perf_counter())
            with record_function("backward"):
                tr.booster.backward(loss, tr.optimizer)
            marks.append(time.perf_counter())
            with record_function("clip+optimizer"):
                tr.optimizer.clip_grad_by_norm(loaded.recipe.train.clip_grad_norm or 1e9)
                tr.optimizer.step()
                tr.optimizer.zero_grad()
                tr.scheduler.step()
            marks.append(time.perf_counter())
            if k >= 2:  # the first steps warm caches (and compile)
                for name, a, b in zip(phases, marks, marks[1:], strict=False):
                    phases[name] += b - a
    total = sum(phases.values())
    print(f"\netdecl step phases over {steps} steps ({' '.join(overrides) or 'recipe as is'}):")
    for name, sec in phases.items():
        print(f"  {name:15s} {sec / steps:7.3f} s/step  {100 * sec / total:5.1f} %")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="400 examples, 1 round: a smoke run")
    ap.add_argument("--limit", type=int, help="read only this many rows (all systems)")
    ap.add_argument("--set", dest="etdecl_set", action="append", default=[],
                    help="etdecl-only override (KEY=VALUE), e.g. parallel.precision=bf16")
    ap.add_argument("--set-all", action="append", default=[], help=argparse.SUPPRESS)
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--worker", choices=SYSTEMS[1:], help=argparse.SUPPRESS)
    ap.add_argument("--profile", type=int, metavar="STEPS",
                    help="profile etdecl's step for this many steps instead")
    args = ap.parse_args()
    shared = list(args.set_all)
    if args.quick or args.limit:
        shared.append(f"data.train.limit={args.limit or 400}")
    if args.worker:
        return worker(args.worker, shared)
    if args.profile:
        return profile(args.profile, shared + args.etdecl_set)
    rounds = 1 if args.quick else args.rounds
    systems = args.systems.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="etdecl-bench-vs-"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TORCHINDUCTOR_CACHE_DIR=str(tmp / "inductor"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    results: dict[str, list[dict]] = {s: [] for s in systems}
    for r in range(rounds):
        for system in systems:
            out = run_system(system, tmp / f"{system}-{r}", shared, args.etdecl_set, env)
            results[system].append(out)
            print(f"round {r + 1} {system:13s} wall {out['process_s']:6.1f} s  "
                  f"{out['examples_per_s']:6.1f} ex/s  dev acc {out['accuracy']:.4f}", flush=True)
    base = "trainer" if "trainer" in systems else systems[0]
    print(f"\nquickstart split, {rounds} round(s); shared: {' '.join(shared) or '(none)'}; "
          f"etdecl: {' '.join(args.etdecl_set) or '(recipe as is)'}")
    print(f"{'system':13s} {'wall s':>7s} {'ex/s':>7s} {'vs trainer':>10s} "
          f"{'dev acc (per round)':>22s}")
    for system in systems:
        runs = results[system]
        ratio = statistics.median(a["examples_per_s"] / b["examples_per_s"]
                                  for a, b in zip(runs, results[base], strict=True))
        accs = " ".join(f"{x['accuracy']:.3f}" for x in runs)
        print(f"{system:13s} {statistics.median(x['process_s'] for x in runs):7.1f} "
              f"{statistics.median(x['examples_per_s'] for x in runs):7.1f} {ratio:9.2f}x "
              f"{accs:>22s}")
    print("ex/s: training-loop examples per second (no evaluation, checkpoints or compile); "
          "wall: whole process; ratio: median over rounds against trainer of the same round")


if __name__ == "__main__":
    main()
