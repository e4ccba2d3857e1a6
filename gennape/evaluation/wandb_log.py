"""``train.py logger=wandb``: a run's config, results, tables and plots in Weights & Biases.

A run (``conf/logger/wandb.yaml``, offline by default: ``wandb sync <run>/wandb/offline-run-*``
uploads it) is grouped by its experiment (``experiment=...``, Hydra's choice) and tagged and named
by its command-line overrides, so the runs of a sweep sit side by side in W&B's runs table. It
holds the resolved config (``log_hyperparams``), the training curves (Lightning), and at the end
(:meth:`RunLogger.log_results`):

- every metric of ``results.json`` as a summary value, ``<setting>/<family>/<method>/<metric>``
  (:mod:`gennape.evaluation.metric_keys`), the row index under ``result_rows``, and the run's
  numbers under ``info/<name>``;
- the result table as a ``wandb.Table`` (``results``); the plots as images (``plots/<name>``).

``python -m gennape.evaluation.compare`` reads such a run back, offline (:mod:`gennape.evaluation.wandb_read`).
W&B prints its warnings and errors; its banners are off (one line names the run's folder instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import wandb
from lightning.pytorch.loggers import WandbLogger

from gennape.evaluation.metric_keys import NOT_METRICS, ROWS_KEY, info_metrics, row_index, row_metrics
from gennape.evaluation.provenance import overrides

TAG_CHARS = 64  # W&B refuses longer tags


def experiment_name() -> str | None:
    """The ``experiment`` config group this Hydra run chose (None outside a Hydra app)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return HydraConfig.get().runtime.choices.get("experiment")
    except ValueError:  # not running under @hydra.main (tests compose the config themselves)
        return None


def tag(override: str) -> str:
    """An override as a W&B tag (cut to :data:`TAG_CHARS`)."""
    return override if len(override) <= TAG_CHARS else override[:TAG_CHARS - 1] + "…"


class RunLogger(WandbLogger):
    """Lightning's W&B logger on a run this class starts, with gennape's results logged at the end.

    Args:
        project: W&B project.
        save_dir: the folder the run's ``wandb/`` goes in (the Hydra run folder).
        mode: ``offline`` (default), ``online`` or ``disabled``.
        group: default: the Hydra ``experiment`` choice.
        tags: default: the run's command-line overrides.
        name: default: the overrides joined by spaces (W&B's own name when there are none).
    """

    def __init__(self, project: str, save_dir: str | Path, mode: str = "offline", group: str | None = None,
                 tags: list[str] | None = None, name: str | None = None) -> None:
        given = overrides()
        # Banners off (info lines: wandb.setup applies them to its terminal output), warnings and
        # errors on; WANDB_SILENT=true still silences everything.
        quiet = wandb.Settings(show_info=False, quiet=True)
        wandb.setup(settings=quiet)
        run = wandb.init(project=project, dir=str(save_dir), mode=mode, group=group or experiment_name(),
                         tags=[tag(t) for t in (given if tags is None else tags)],
                         name=name or " ".join(given) or None, settings=quiet)
        super().__init__(experiment=run, project=project, save_dir=str(save_dir), offline=mode == "offline")
        self.mode = mode

    def log_results(self, rows: list[dict[str, Any]], info: dict[str, Any], out_dir: Path) -> None:
        """The run's last call: the result metrics as summary values, the table, the plots of
        ``out_dir``; then the run is finished and one line says where it is."""
        run = self.experiment
        run.summary.update({**row_metrics(rows), **info_metrics(info), ROWS_KEY: row_index(rows)})
        columns = [*dict.fromkeys(k for r in rows for k in r)]
        columns = [c for c in columns if c in NOT_METRICS] + [c for c in columns if c not in NOT_METRICS]
        images = {f"plots/{png.stem}": wandb.Image(str(png)) for png in sorted(Path(out_dir).glob("*.png"))}
        run.log({"results": wandb.Table(columns=columns, data=[[r.get(c) for c in columns] for r in rows]), **images})
        folder = Path(run.dir).parent  # <save_dir>/wandb/<mode>-run-<time>-<id>
        run.finish()
        upload = f"; upload: wandb sync {folder}" if self.mode == "offline" else ""
        print(f"W&B run {run.id} ({self.mode}): {folder}{upload}")
