"""The RL selectors (RTL `reinforced`, MGTL `minimax`): the REINFORCE step on a toy bandit, the
discriminator's immediate reward under a synthetic shift, and recipes that train, log their
selection per episode and resume to the same selection."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

from selector_support import write_select  # noqa: E402
from training_support import read_metrics, run_cli  # noqa: E402

from etdecl.engine.selectors.learners import Discriminator, Policy  # noqa: E402
from etdecl.engine.selectors.records import read_log  # noqa: E402


def test_reinforce_moves_the_policy_towards_the_rewarded_action():
    """A one-state bandit: keeping pays 1, dropping 0. With a moving-average baseline the
    advantage of each episode is its share kept less the usual share, so keeping grows likelier;
    with the payoffs swapped, dropping does."""
    for reward_keep, direction in ((1.0, 1), (0.0, -1)):
        policy = Policy(width=4, hidden=8, lr=0.05, seed=0, initial_keep=0.5)
        state = torch.ones(16, 4)
        start = float(policy.probs(state).mean().detach())
        baseline = None
        gen = torch.Generator().manual_seed(0)
        for _ in range(60):
            _, actions = policy.act(state, gen)
            payoff = torch.where(actions > 0, reward_keep, 1.0 - reward_keep)
            base = payoff.mean() if baseline is None else baseline
            policy.reinforce(state, actions, payoff - base)
            baseline = payoff.mean() if baseline is None else 0.8 * baseline + 0.2 * payoff.mean()
        end = float(policy.probs(state).mean().detach())
        assert direction * (end - start) > 0.3, (reward_keep, start, end)


def test_reinforce_learns_which_states_to_keep():
    """A contextual bandit: keeping pays only for states whose first feature is positive."""
    policy = Policy(width=3, hidden=16, lr=0.03, seed=1, initial_keep=0.5)
    gen = torch.Generator().manual_seed(1)
    for _ in range(150):
        states = torch.randn(32, 3, generator=gen)
        _, actions = policy.act(states, gen)
        good = states[:, 0] > 0
        payoff = torch.where(actions > 0, torch.where(good, 1.0, -1.0), torch.tensor(0.0))
        policy.reinforce(states, actions, payoff)
    test = torch.randn(200, 3, generator=gen)
    p = policy.probs(test)
    assert p[test[:, 0] > 0.5].mean() > 0.8 and p[test[:, 0] < -0.5].mean() < 0.2


def test_discriminator_rewards_target_like_examples_more():
    """Source features ~ N(0, 1), target ~ N(1.5, 1) in some directions: after training on kept
    source rows against remembered target rows, the immediate reward (its target logit) of
    target-like rows exceeds that of source-like rows, and the loss fell."""
    gen = torch.Generator().manual_seed(0)
    shift = torch.zeros(8)
    shift[:3] = 1.5
    disc = Discriminator(width=8, hidden=16, lr=0.01, seed=0, memory=64)
    losses = []
    for _ in range(200):
        disc.remember(torch.randn(16, 8, generator=gen) + shift)
        losses.append(disc.train_step(torch.randn(16, 8, generator=gen), gen))
    source_like = torch.randn(100, 8, generator=gen)
    target_like = torch.randn(100, 8, generator=gen) + shift
    assert disc.reward(target_like).mean() > disc.reward(source_like).mean() + 1.0
    assert sum(losses[-20:]) / 20 < 0.8 * sum(losses[:20]) / 20
    # the memory holds the most recent target rows only
    assert len(disc.bank) == 64


def test_policy_and_discriminator_state_round_trips():
    policy = Policy(width=4, hidden=8, lr=0.05, seed=0, initial_keep=0.9)
    assert float(policy.probs(torch.zeros(1, 4)).detach()) == pytest.approx(0.9, abs=0.05)
    policy.reinforce(torch.ones(4, 4), torch.ones(4), torch.ones(4))
    other = Policy(width=4, hidden=8, lr=0.05, seed=5, initial_keep=0.5)
    other.load_state_dict(json.loads(json.dumps(policy.state_dict())))
    x = torch.randn(3, 4)
    assert torch.equal(policy.probs(x), other.probs(x))
    disc = Discriminator(width=4, hidden=8, lr=0.01, seed=0, memory=8)
    disc.remember(torch.randn(5, 4))
    copy = Discriminator(width=4, hidden=8, lr=0.01, seed=3, memory=8)
    copy.load_state_dict(json.loads(json.dumps(disc.state_dict())))
    assert torch.equal(copy.bank, disc.bank) and torch.equal(copy.reward(x), disc.reward(x))


def _keep_rates(log: list[dict]) -> dict[str, float]:
    kept: dict[str, list[int]] = {}
    for record in log:
        for domain, k in zip(record["domain"], record["kept"], strict=True):
            kept.setdefault(domain, []).append(k)
    return {d: sum(v) / len(v) for d, v in kept.items()}


@pytest.mark.parametrize("kind", ["reinforced", "minimax"])
def test_selector_recipe_trains_logs_episodes_and_resumes_the_same_selection(kind, tmp_path):
    recipe = write_select(tmp_path, f"{{type: {kind}}}")
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    proc = run_cli("train", str(recipe), "--run-dir", str(whole))
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = read_log(whole / "selection" / "pick.jsonl")
    # 20 steps, evaluations every 5 (and once at step 0 for the first reward): 4 episodes
    assert [r["step"] for r in log] == [5, 10, 15, 20]
    assert log[0]["reward"] is not None and all(r["type"] == kind for r in log)
    assert set(_keep_rates(log)) == {"near", "far"}  # target rows are never judged
    for r in log:
        assert len(r["index"]) == len(r["prob"]) == len(r["kept"]) == len(r["domain"])
        assert all(0 < p < 1 for p in r["prob"]) and set(r["kept"]) <= {0, 1}
    train = [m for m in read_metrics(whole) if m["split"] == "train"]
    keeps = [m for m in train if "select.pick.keep" in m]
    assert keeps and all(0 <= m["select.pick.keep"] <= 1 for m in keeps)
    assert any("select.pick.reward" in m for m in train)
    if kind == "minimax":
        assert any("select.pick.disc_loss" in m for m in train)
    summary = (whole / "summary.md").read_text()
    assert "selector pick" in summary
    # stop between two evaluations (mid-episode), resume: the same selection, the same policy
    first = run_cli("train", str(recipe), "--run-dir", str(parts), "--stop-after", "7")
    assert first.returncode == 0, first.stderr[-3000:]
    assert [r["step"] for r in read_log(parts / "selection" / "pick.jsonl")] == [5]
    second = run_cli("train", str(recipe), "--run-dir", str(parts), "--resume")
    assert second.returncode == 0, second.stderr[-3000:]
    assert read_log(parts / "selection" / "pick.jsonl") == log

    def final(run: Path) -> dict:
        step = (run / "checkpoints" / "last").read_text().strip()
        return json.loads((run / "checkpoints" / step / "state.json").read_text())["selection"]

    assert final(whole) == final(parts)


def test_bayes_recipe_keeps_the_target_like_source_and_resumes_with_its_choice(tmp_path):
    """`far` source rows use other words (and flipped labels): the features say they are
    unlike the target, so the tuned score keeps fewer of them; the run trains on the kept
    half plus the target; a resumed run reads the choice back from the log."""
    recipe = write_select(tmp_path, "{type: bayes, keep: 0.5, trials: 12}", epochs=1)
    run = tmp_path / "run"
    proc = run_cli("train", str(recipe), "--run-dir", str(run), "--stop-after", "3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (record,) = read_log(run / "selection" / "pick.jsonl")
    assert record["type"] == "bayes" and sum(record["kept"]) == 64
    rates = _keep_rates([record])
    assert rates["near"] > rates["far"] + 0.3, rates
    assert record["reference"]["target_only"] is not None
    before = (run / "selection" / "pick.jsonl").read_text()
    proc = run_cli("train", str(recipe), "--run-dir", str(run), "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run / "selection" / "pick.jsonl").read_text() == before
    assert "restored from the log" in (run / "summary.md").read_text()
    # steps per epoch: (64 kept source + 32 target) // 16 batches
    assert json.loads((run / "result.json").read_text())["step"] == 6


def _selector(kind: str, tmp_path: Path, width: int = 6, lr: float = 0.05):
    """A selector over fake batches: dataset 0 holds source rows of domain 0, target domain 1;
    features of width `width`, a two-class head `cls`."""
    from etdecl.engine.selectors.base import Scope
    from etdecl.engine.selectors.reinforced import MinimaxSelector, ReinforcedSelector
    from etdecl.recipe.schema_selectors import MinimaxSelector as MinimaxConfig
    from etdecl.recipe.schema_selectors import ReinforcedSelector as ReinforcedConfig

    scope = Scope(name="pick", source="source", source_id=0, domain_ids=[0], target_id=1,
                  domain_names={0: "src", 1: "tgt"}, head="cls", node="enc")
    if kind == "minimax":
        cfg = MinimaxConfig(type="minimax", policy={"initial_keep": 0.5},
                            discriminator={"lr": 0.02})
        return MinimaxSelector(cfg, scope, tmp_path, True, 0, width, 2)
    cfg = ReinforcedConfig(type="reinforced", policy={"lr": lr, "initial_keep": 0.5})
    return ReinforcedSelector(cfg, scope, tmp_path, True, 0, width, 2)


def _batch(feats: torch.Tensor, domain: int) -> tuple[dict, dict]:
    from etdecl.engine.selectors.base import feature_key

    n = len(feats)
    batch = {"index": torch.arange(n), "dataset": torch.zeros(n, dtype=torch.long),
             "domain": torch.full((n,), domain), "cls.label": torch.zeros(n, dtype=torch.long)}
    outputs = {feature_key("enc"): feats, "cls.loss": torch.ones(n),
               "cls.logits": torch.zeros(n, 2)}
    return outputs, batch


@pytest.mark.parametrize("rising", [True, False])
def test_a_rising_metric_makes_the_episode_s_actions_likelier(rising, tmp_path):
    """After the first reward (which only sets the baseline), an episode whose metric rose more
    than the baseline makes the actions it took likelier together; one that fell, less likely."""
    sel = _selector("reinforced", tmp_path, lr=1e-3)  # a small step: no overshoot
    outputs, batch = _batch(torch.randn(32, 6, generator=torch.Generator().manual_seed(0)),
                            domain=0)
    sel.on_eval(0, 0.5)
    sel.weights(outputs, batch, 0)
    sel.on_eval(5, 0.6)  # first reward: baseline only, no step
    state = sel.states[0] if sel.states else None
    assert state is None and sel.baseline == pytest.approx(1.0)
    w = sel.weights(outputs, batch, 1)
    taken = sel.actions[0].clone()
    states = sel.states[0].clone()

    def log_likelihood() -> float:
        p = sel.policy.probs(states).detach()
        return float(torch.where(taken > 0, p, 1 - p).log().sum())

    before = log_likelihood()
    sel.on_eval(10, 0.8 if rising else 0.5)  # reward 3.0 or 0.0 against baseline 1.0
    after = log_likelihood()
    assert after > before if rising else after < before, (before, after)
    assert w is not None and set(w.tolist()) <= {0.0, 1.0}


def test_minimax_rewards_keeping_target_like_rows(tmp_path):
    """The discriminator sees target rows near +shift and kept source rows near 0; its
    immediate reward then raises the keep probability of target-like source rows over
    source-like ones."""
    sel = _selector("minimax", tmp_path)
    gen = torch.Generator().manual_seed(0)
    shift = torch.zeros(6)
    shift[:2] = 2.0
    for step in range(120):
        t_out, t_batch = _batch(torch.randn(16, 6, generator=gen) + shift, domain=1)
        sel.weights(t_out, t_batch, 2 * step)  # target rows: remembered, not judged
        mixed = torch.cat([torch.randn(8, 6, generator=gen),
                           torch.randn(8, 6, generator=gen) + shift])
        s_out, s_batch = _batch(mixed, domain=0)
        sel.weights(s_out, s_batch, 2 * step + 1)
    from etdecl.engine.selectors.base import rl_state

    probe = torch.cat([torch.randn(50, 6, generator=gen), torch.randn(50, 6, generator=gen)
                       + shift])
    out, batch = _batch(probe, domain=0)
    p = sel.policy.probs(rl_state(out, batch, sel.scope, torch.ones(100, dtype=torch.bool)))
    assert p[50:].mean() > p[:50].mean() + 0.1, (p[50:].mean(), p[:50].mean())
