"""A Hydra callback that records every multirun job (its directory, overrides, outcome, error) in
`<sweep dir>/summary.json`, prints the table at the end, and makes the sweep exit 1 when a job failed."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from fwtk_lab.core.files import atomic_write_json
from fwtk_lab.runs.identity import env_rank_zero

log = logging.getLogger("fwtk_lab.sweep")
JOBS_ENV = "FWTK_SWEEP_JOBS"  # where jobs (in this process or in launcher workers) append their records


class SweepSummary(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        jobs = sweep_dir / "jobs.jsonl"
        jobs.write_text("")  # this invocation's jobs; earlier invocations are in summary.json's history
        os.environ[JOBS_ENV] = str(jobs)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode == RunMode.MULTIRUN:
            (Path(str(config.hydra.runtime.output_dir)) / "error.json").unlink(missing_ok=True)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        path = os.environ.get(JOBS_ENV)
        if not path or config.hydra.mode != RunMode.MULTIRUN or not env_rank_zero():  # a DDP job's other ranks
            return
        out = Path(str(config.hydra.runtime.output_dir))
        record = {
            "num": int(config.hydra.job.num),
            "dir": str(out),
            "overrides": list(job_return.overrides or []),
            "status": "finished",
            "error": None,
        }
        error = out / "error.json"
        if job_return.status == JobStatus.FAILED:
            record.update(
                status="failed", error=f"{type(job_return._return_value).__name__}: {job_return._return_value}"
            )
        elif error.is_file():
            record.update(status="failed", error=json.loads(error.read_text()).get("error"))
        with open(path, "a", encoding="utf-8") as f:  # one short line per job: appends do not interleave
            f.write(json.dumps(record) + "\n")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        path = os.environ.pop(JOBS_ENV, None)
        if not path or not Path(path).is_file():
            return
        jobs = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
        jobs.sort(key=lambda r: r["num"])
        failed = [j for j in jobs if j["status"] != "finished"]
        summary = {"jobs": jobs, "finished": len(jobs) - len(failed), "failed": len(failed)}
        atomic_write_json(Path(path).with_name("summary.json"), summary)
        for j in jobs:
            line = f"job {j['num']}: {j['status']:<8} {' '.join(j['overrides'])}  -> {j['dir']}"
            log.info(line + (f"  ({j['error']})" if j["error"] else ""))
        if failed:
            print(
                f"error: {len(failed)} of {len(jobs)} jobs failed (see {Path(path).with_name('summary.json')}); "
                f"rerun the same command to retry them (finished jobs are skipped)",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(1)


def in_multirun() -> bool:
    """True inside a job of a Hydra multirun (`-m`)."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
