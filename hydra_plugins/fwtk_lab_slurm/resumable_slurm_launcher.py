"""hydra-submitit-launcher's SLURM launcher that submits only what is unfinished: a rerun of a sweep runs
its finished jobs here, in the launching process (each reports its metrics.json at once), and submits the
others, with their job numbers kept, so that summary.json lists every job of the sweep. In the job, it
takes SLURM's signals from submitit's handlers at once (fwtk_lab.core.slurm_env.hold_signals); in a job of
several tasks (a DDP job: every rank runs the job) only the first writes Hydra's files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides, run_job, setup_globals
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
from omegaconf import OmegaConf, open_dict

from fwtk_lab.core import slurm_env

log = logging.getLogger("fwtk_lab.slurm")


class ResumableSlurmLauncher(SlurmLauncher):
    def __call__(
        self,
        sweep_overrides: List[str],
        job_dir_key: str,
        job_num: int,
        job_id: str,
        singleton_state: Dict[type, Singleton],
    ) -> JobReturn:
        """The job, in each task of its SLURM job (SubmititLauncher.__call__, hydra-submitit-launcher 1.2, MIT).

        SLURM's signals are recorded until the run installs its handler. Every DDP rank is a task: those
        after the first log to `<job name>_rank<N>.log` and write no `.hydra/` (as Lightning's own DDP children).
        """
        import submitit

        slurm_env.hold_signals()
        Singleton.set_state(singleton_state)
        setup_globals()
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, sweep_overrides)
        rank = submitit.JobEnvironment().global_rank
        with open_dict(sweep_config.hydra):
            sweep_config.hydra.job.id = submitit.JobEnvironment().job_id
            sweep_config.hydra.job.num = job_num
            if rank > 0:
                sweep_config.hydra.job.name = f"{sweep_config.hydra.job.name}_rank{rank}"
                sweep_config.hydra.output_subdir = None
        return run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=sweep_config,
            job_dir_key=job_dir_key,
            job_subdir_key="hydra.sweep.subdir",
        )

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        setup_globals()
        numbered = [(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
        done = {num for num, overrides in numbered if self._finished(overrides)}
        if done:
            log.info("%d of %d jobs are finished: reported here, not submitted", len(done), len(numbered))
        results = {num: self._run_here(overrides, num) for num, overrides in numbered if num in done}
        todo = [(num, overrides) for num, overrides in numbered if num not in done]
        if todo:
            results.update(zip([n for n, _ in todo], self._submit(todo)))
        return [results[num] for num, _ in numbered]

    def _finished(self, overrides: List[str]) -> bool:
        from fwtk_lab.runs import resume  # imports Lightning: not at Hydra's plugin scan, which every command runs

        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        if cfg.get("resume") == "never" or cfg.get("ckpt_path"):
            return False
        budget = {"max_epochs": cfg.trainer.max_epochs, "max_steps": cfg.trainer.max_steps}
        return resume.finished(Path(str(cfg.hydra.sweep.subdir)), budget)

    def _run_here(self, overrides: List[str], num: int) -> JobReturn:
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(cfg):
            cfg.hydra.job.id = f"finished_{num}"
            cfg.hydra.job.num = num
        return run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=cfg,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )

    def _submit(self, todo: List[tuple[int, List[str]]]) -> List[JobReturn]:
        """BaseSubmititLauncher.launch (hydra-submitit-launcher 1.2, MIT), for the given job numbers."""
        import submitit

        params = dict(self.params)
        init_params: dict[str, Any] = {"folder": params["submitit_folder"]}
        if "max_num_timeout" in params:
            init_params[f"{self._EXECUTOR}_max_num_timeout"] = params["max_num_timeout"]
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init_params)
        baseparams = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                (k if k in baseparams else f"{self._EXECUTOR}_{k}"): v
                for k, v in params.items()
                if k not in {"max_num_timeout", "submitit_folder"}
            }
        )
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {self.config.hydra.sweep.dir}")
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        job_params = []
        for num, overrides in todo:
            log.info(f"\t#{num} : {' '.join(filter_overrides(overrides))}")
            job_params.append((overrides, "hydra.sweep.dir", num, f"job_id_for_{num}", Singleton.get_state()))
        jobs = executor.map_array(self, *zip(*job_params))
        return [j.results()[0] for j in jobs]
