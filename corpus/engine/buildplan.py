"""The build plan: made once per build in the driver, shipped to every task as typed jobs.

It resolves the config, plans the tasks, builds the stages (once: a worker rebuilds its own instances
from the resolved specs only to set them up where it runs) and cuts the pipeline into passes from
each stage instance's own answer to `Stage.needs_global`. Everything that can be refused is refused
here, before any task runs: unknown stages and keys, a stage out of place (`Stage.must_be_last`), a
label used twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corpus.config import PipelineConfig
from corpus.engine import plan
from corpus.rundir import RunDir
from corpus.stages import base


@dataclass(frozen=True)
class PassCut:
    """Stages ``[first, end)`` run in the pass; ``scan`` is the index of the global stage whose scan ends
    it (None for the last pass, which writes ``data/``); ``read_from`` the label whose saved stream
    (``.work/<label>/``) the pass reads (None: the inputs)."""

    first: int
    end: int
    scan: int | None
    read_from: str | None


def cut_passes(stages: list[base.Stage]) -> list[PassCut]:
    """One cut per global stage instance (`Stage.needs_global`), then the last pass."""
    out: list[PassCut] = []
    first, read_from = 0, None
    for i, st in enumerate(stages):
        if st.needs_global():
            out.append(PassCut(first, i, i, read_from))
            first, read_from = i, st.label  # the next pass starts with this stage's process
    out.append(PassCut(first, len(stages), None, read_from))
    return out


@dataclass(frozen=True)
class TaskJob:
    """One task of one pass, as a worker receives it."""

    run: RunDir
    config: dict[str, Any]  # the resolved config (stages, reader, writer, input)
    config_sha: str  # names the worker's set of stage instances
    pass_index: int
    cut: PassCut
    task: plan.Task
    task_index: int
    limit: int | None = None  # records the read pass may still read (``--limit``)
    repeats: list[Any] | None = None  # the settled repeated ids of the task (the read pass redone), else None


@dataclass
class BuildPlan:
    cfg: PipelineConfig
    run: RunDir
    resolved: dict[str, Any]
    config_sha: str
    tasks: list[plan.Task]
    stages: list[base.Stage]  # the driver's instances (never set up: reduce and finalize run on them)
    passes: list[PassCut] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.stages]

    @property
    def task_ids(self) -> list[str]:
        return [t.id for t in self.tasks]

    def scan_stage(self, cut: PassCut) -> base.Stage | None:
        return None if cut.scan is None else self.stages[cut.scan]

    def job(self, pass_index: int, task_index: int, **extra: Any) -> TaskJob:
        return TaskJob(self.run, self.resolved, self.config_sha, pass_index, self.passes[pass_index],
                       self.tasks[task_index], task_index, **extra)


def make(cfg: PipelineConfig) -> BuildPlan:
    """Resolve, plan and cut; raises `UserError` for anything the build would refuse later."""
    built = [base.build(spec, f"stages[{i}]") for i, spec in enumerate(cfg.stages)]  # each stage once
    resolved = cfg.resolved([spec for _, spec in built])  # and their order checked (must_be_last)
    stages = [stage for stage, _ in built]
    base.check_stages(stages)  # labels used twice, each stage's files, models and names
    return BuildPlan(cfg, RunDir(cfg.output_dir), resolved, cfg.sha256(resolved), plan.plan(cfg), stages,
                     cut_passes(stages))
