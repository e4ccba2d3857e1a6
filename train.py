"""Train gennape predictors and report transfer to other families (Hydra entry point).

    python train.py                                   # GENNAPE on NB-201 -> NB-101, NB-301
    python train.py trainer=fast                      # smoke run (about a minute)
    python train.py experiment=nb101_to_nb201         # the paper's direction
    python train.py experiment=ablation               # Table 3, 5 seeds
    python train.py model.heads=8 trainer.max_epochs=60 logger=wandb
    python train.py -m model.heads=1,4,8              # sweep (multirun/)
    python train.py experiment=X ckpt_path=outputs/D/T # resume a killed run (its own overrides again)

Writes ``results.md``, ``results.json``, plots and ``model.ckpt`` (the main model of the first seed,
readable by ``predict.py --checkpoint``) to the run folder (Hydra's output dir). The experiment
itself (``cfg.protocol``: ``transfer`` by default, ``lofo``) is :mod:`gennape.evaluation.experiment`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from gennape.evaluation.experiment import objective, run
from gennape.evaluation.runlog import log_output
from gennape.inference.predict import quiet_libraries


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Hydra entry; returns the main model's mean zero-shot SRCC (a sweep objective)."""
    quiet_libraries()  # Lightning's tips and its pytree deprecation; real warnings still show
    log_output()  # what the run prints, and Lightning's records, into Hydra's train.log too
    return objective(run(cfg), cfg.model.name)


if __name__ == "__main__":
    main()
