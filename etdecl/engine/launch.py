"""Start training: prepare the run directory, then run in this process or under torchrun.

One process by default (a world of one, gloo). `--nproc N` starts N local processes, and
`--nnodes/--node-rank/--master-addr/--master-port` span machines, all with torchrun semantics.
Each worker re-loads the recipe from its source file with the same overrides and checks the
fingerprint, so every rank trains exactly the recipe the launcher validated.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from ..consoles import make_console, say
from ..quiet import quiet_third_party
from ..recipe.errors import RecipeError
from ..recipe.loaded import LoadedRecipe
from ..recipe.show import render_resolved
from ..recipe.validate import load_recipe
from ..recipe.world import check_world


@dataclass
class LaunchSpec:
    recipe: str
    overrides: list[str]
    fingerprint: str
    run_dir: str
    resume: bool
    stop_after: int | None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_run_dir(loaded: LoadedRecipe, run_dir: Path, resume: bool) -> None:
    ckpt = run_dir / "checkpoints" / "last"
    if resume and not ckpt.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint in {run_dir / 'checkpoints'}")
    if not resume and ckpt.is_file():
        raise FileExistsError(
            f"{run_dir} already holds a run; continue it with --resume, or choose another --run-dir"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    (run_dir / "recipe.yaml").write_text(render_resolved(loaded), encoding="utf-8")
    (run_dir / "fingerprint").write_text(loaded.fingerprint + "\n")


def launch(
    loaded: LoadedRecipe,
    nproc: int = 1,
    resume: bool = False,
    run_dir: Path | None = None,
    stop_after: int | None = None,
    nnodes: int = 1,
    node_rank: int = 0,
    master_addr: str = "127.0.0.1",
    master_port: int | None = None,
) -> int:
    run_dir = run_dir or Path(loaded.recipe.train.output_dir) / loaded.recipe.name
    try:
        check_world(loaded, nproc * nnodes)
    except RecipeError as err:
        say(str(err), stderr=True)
        return 1
    try:
        prepare_run_dir(loaded, run_dir, resume)
    except (FileExistsError, FileNotFoundError) as err:
        say(f"error: {err}", stderr=True)
        return 2
    spec = LaunchSpec(
        str(loaded.file.resolve()),
        loaded.overrides,
        loaded.fingerprint,
        str(run_dir.resolve()),
        resume,
        stop_after,
    )
    spec_file = run_dir / "launch.json"
    spec_file.write_text(json.dumps(asdict(spec), indent=2))
    if nproc == 1 and nnodes == 1:
        return run_worker(spec, single=True)
    return _elastic(
        spec_file,
        nproc,
        nnodes,
        node_rank,
        master_addr,
        master_port or (free_port() if nnodes == 1 else 29500),
    )


def _elastic(
    spec_file: Path, nproc: int, nnodes: int, node_rank: int, master_addr: str, master_port: int
) -> int:
    """torchrun semantics (static rendezvous), with a failed worker reported without a trace."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    config = LaunchConfig(
        min_nodes=nnodes,
        max_nodes=nnodes,
        nproc_per_node=nproc,
        run_id="etdecl",
        rdzv_endpoint=f"{master_addr}:{master_port}",
        rdzv_backend="static",
        rdzv_configs={"rank": node_rank, "timeout": 900},
        max_restarts=0,
        monitor_interval=0.2,
    )
    try:
        elastic_launch(config, sys.executable)(
            "-m", "etdecl.engine.worker", str(spec_file.resolve())
        )
    except ChildFailedError as err:
        first = next(iter(err.failures.values()), None)
        code = first.exitcode if first is not None else 1
        return code if code and code > 0 else 1
    return 0


def init_distributed(seed: int, single: bool) -> None:
    import colossalai
    from colossalai.logging import get_dist_logger

    if single:
        colossalai.launch(
            rank=0,
            world_size=1,
            host="127.0.0.1",
            port=free_port(),
            backend="gloo",
            seed=seed,
            verbose=False,
        )
    else:
        colossalai.launch_from_torch(backend="gloo", seed=seed, verbose=False)
    get_dist_logger().set_level("WARNING")  # its INFO lines narrate every checkpoint shard


def run_worker(spec: LaunchSpec, single: bool = False) -> int:
    """Body of every training process."""
    quiet_third_party()
    import torch.distributed as dist

    from ..datafiles.readers import DataError
    from .checkpoint import ResumeError
    from .trainer import Trainer

    console = make_console(stderr=True)
    loaded = load_recipe(spec.recipe, spec.overrides)
    if loaded.fingerprint != spec.fingerprint:
        say("error: the recipe changed on disk after launch", stderr=True)
        return 2
    init_distributed(loaded.recipe.train.seed, single)
    trainer = Trainer(loaded, Path(spec.run_dir), spec.resume, spec.stop_after, console)
    try:
        trainer.setup()
        outcome = trainer.train()
        trainer.cleanup(outcome)
        return 0
    except (RecipeError, DataError, ResumeError) as err:
        if dist.get_rank() == 0 or not isinstance(err, (RecipeError, DataError)):
            say(f"error: {err}" if not isinstance(err, RecipeError) else str(err), stderr=True)
        return 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
