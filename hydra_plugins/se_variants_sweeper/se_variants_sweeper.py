"""``hydra/sweeper=se_variants``: the sweeper of ``se-variants train -m`` and ``se-variants ablate``.

It launches the jobs of :func:`se_variants.runner.plan.expand` -- the grid of the sweep overrides (as Hydra's
basic sweeper), times the ``ablation`` variants and seeds when the config lists variants -- in batches of
``max_batch_size`` through whichever launcher is configured, then waits for jobs another process is training,
writes the final report and exits 1 when a job failed (:func:`se_variants.runner.sweep.run_sweep`). Plugins must
live in the ``hydra_plugins`` package; the logic lives in se_variants.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class SEVariantsSweeperConf:
    _target_: str = "hydra_plugins.se_variants_sweeper.se_variants_sweeper.SEVariantsSweeper"
    #: jobs handed to the launcher at once (None: all); throttles launchers without a limit (submitit_local)
    max_batch_size: Optional[int] = None
    #: sweep overrides declared in a config (key -> "a,b,c"), as the basic sweeper's
    params: Optional[Dict[str, str]] = None


ConfigStore.instance().store(group="hydra/sweeper", name="se_variants", node=SEVariantsSweeperConf,
                             provider="se_variants")


class SEVariantsSweeper(Sweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None) -> None:
        super().__init__()
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})
        self.config: Optional[DictConfig] = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Any:
        from se_variants.runner.sweep import run_sweep

        assert self.config is not None and self.launcher is not None
        return run_sweep(self.config, self.launcher, arguments, self.params, self.max_batch_size)
