"""Per-domain metrics in every evaluation: each task's scores recomputed on each domain's
examples (`accuracy[d]`, `macro_f1[d]` for classify/match, `f1[d]` for tag, `f1[d]` and
`exact_match[d]` for span), and batches carrying domain ids in `data.domains` order."""

from __future__ import annotations

import pytest
from domain_rows import multitask_recipe
from training_support import read_metrics, run_cli

from etdecl.data.examples import load_splits, tasks_of
from etdecl.recipe.validate import load_recipe

PER_DOMAIN = {"classify": ("accuracy", "macro_f1"), "match": ("accuracy", "macro_f1"),
              "tag": ("f1",), "span": ("exact_match", "f1")}
KINDS = list(PER_DOMAIN)


def _prediction(task, example, right: bool) -> dict:
    """What decoding would give: the gold answer when `right`, a wrong one otherwise."""
    gold = task.gold(example)
    if task.kind in ("classify", "match"):
        label = task.labels[gold if right else 1 - gold]
        return {"label": label, "probabilities": {x: float(x == label) for x in task.labels}}
    if task.kind == "tag":
        tags = [task.labels[i] for i in gold]
        return {"tags": tags if right else ["O"] * len(tags)}
    return {"answer": gold["texts"][0] if right else "nobody"}


@pytest.mark.parametrize("kind", KINDS)
def test_each_domain_is_scored_on_its_own_examples(tmp_path, kind):
    recipe = multitask_recipe(tmp_path, [kind], ["good", "poor", "mixed"])
    loaded = load_recipe(recipe, [], check_data=False)
    (task,) = tasks_of(loaded, kind)
    dev = load_splits(loaded, kind, [task]).dev
    right = {"good": lambda i: True, "poor": lambda i: False, "mixed": lambda i: i % 2 == 0}
    preds = [_prediction(task, e, right[e.domain](i)) for i, e in enumerate(dev)]
    scores = task.metrics(preds, dev)
    for name in PER_DOMAIN[kind]:
        top = 100.0 if kind == "span" else 1.0
        assert scores[f"{name}[good]"] == pytest.approx(top)
        assert scores[f"{name}[poor]"] < 0.5 * top
        for domain in ("poor", "mixed"):  # the same as scoring that domain's rows alone
            mine = [i for i, e in enumerate(dev) if e.domain == domain]
            alone = task.metrics([preds[i] for i in mine], [dev[i] for i in mine])
            assert scores[f"{name}[{domain}]"] == pytest.approx(alone[name]), (name, domain)
        assert min(scores[f"{name}[{d}]"] for d in right) <= scores[name] <= top


def test_without_domains_no_per_domain_metrics_appear(tmp_path):
    recipe = multitask_recipe(tmp_path, ["tag"], ["x"])
    text = recipe.read_text().replace("fields: {domain: domain}", "fields: {}")
    recipe.write_text(text)
    loaded = load_recipe(recipe, [], check_data=False)
    (task,) = tasks_of(loaded, "tag")
    dev = load_splits(loaded, "tag", [task]).dev
    scores = task.metrics([_prediction(task, e, True) for e in dev], dev)
    assert not any("[x]" in k for k in scores) and scores["f1"] == 1.0


def test_batches_carry_domain_ids_in_declared_order(tmp_path):
    from etdecl.compile import compile_recipe
    from etdecl.engine.run_data import prepare

    recipe = multitask_recipe(tmp_path, ["classify", "span"], ["a", "b", "c"],
                              data_extra="  domains: [c, a, b]\n")
    loaded = load_recipe(recipe, [], check_data=False)
    data = prepare(loaded, compile_recipe(loaded), True)
    assert data.domains == {"c": 0, "a": 1, "b": 2}
    for ds in data.train + data.dev:
        batch = ds.batch(list(range(min(12, len(ds.feats)))))
        rows = ds.feats.example[batch["index"].numpy()]
        want = [data.domains[ds.examples[int(r)].domain] for r in rows]
        assert batch["domain"].tolist() == want


def test_every_head_of_a_run_reports_per_domain_dev_metrics(tmp_path):
    recipe = multitask_recipe(tmp_path, KINDS, ["news", "web"],
                              train_extra=", sampling: domain_balanced", max_steps=4)
    run = tmp_path / "run"
    proc = run_cli("train", str(recipe), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    dev = [m for m in read_metrics(run) if m["split"] == "dev"]
    assert dev
    for kind, names in PER_DOMAIN.items():
        for name in names:
            for domain in ("news", "web"):
                assert f"{kind}.{name}[{domain}]" in dev[-1], (kind, name, domain)
