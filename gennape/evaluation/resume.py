"""Resuming a run: a run folder continues only the experiment it was started with.

``ckpt_path=<run>`` does not bring the run's overrides back; :func:`check_same_run` compares the
saved config with the command's and refuses another experiment (adding ``eval.variants`` is the
one change allowed: a finished run gains models).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

# What must match for a resumed run to continue the same experiment (not the trainer, logger, paths).
RUN_KEYS = ("data", "model", "baseline", "eval", "seed", "seeds")
# eval keys that change only what is reported beside the models: a finished run is evaluated again
# with other values (e.g. the single-feature baselines a store has gained since).
REPORT_KEYS = ("baselines", "feature_baselines", "plots")


def check_same_run(cfg: DictConfig, run_dir: Path) -> list[str]:
    """Refuse to resume ``run_dir`` with another experiment than the one it was started with
    (``ckpt_path=`` does not bring the run's own overrides back: pass them again). Returns the
    variants the command adds to the run, the one change allowed."""
    saved_path = run_dir / ".hydra" / "config.yaml"
    if not saved_path.is_file():
        return []

    def plain(v: Any) -> Any:
        return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v

    def settings(c: Any, key: str) -> Any:
        v = plain(c.get(key))
        return {k: x for k, x in v.items() if k not in REPORT_KEYS} if key == "eval" and isinstance(v, dict) else v

    saved = OmegaConf.load(saved_path)
    differ = [k for k in RUN_KEYS if settings(saved, k) != settings(cfg, k)]
    if differ == ["eval"] and (added := added_variants(settings(saved, "eval"), settings(cfg, "eval"))):
        print(f"ckpt_path={run_dir}: extending the run with variants {', '.join(added)} "
              f"(the others' finished stages are loaded)")
        return added
    if differ:
        over = run_dir / ".hydra" / "overrides.yaml"
        was = " ".join(OmegaConf.load(over)) if over.is_file() else "?"
        keys = [d for k in differ for d in _differences(settings(saved, k), settings(cfg, k), k)]
        raise SystemExit(f"ckpt_path={run_dir}: this command's {', '.join(differ)} differ from the run's "
                         f"({'; '.join(keys[:6])}{'; ...' if len(keys) > 6 else ''}); resume it with the overrides "
                         f"it was started with: python train.py {was} ckpt_path={run_dir}")
    return []


def _differences(saved: Any, now: Any, path: str) -> list[str]:
    """The dotted keys where two plain configs differ, with both values ('absent' where a key is
    new since the run was made: remove it with ``~key`` to evaluate the run again)."""
    if isinstance(saved, dict) and isinstance(now, dict):
        return [d for k in dict.fromkeys([*saved, *now])
                for d in _differences(saved.get(k, _ABSENT), now.get(k, _ABSENT), f"{path}.{k}")]
    if saved == now:
        return []
    was, new = ("absent" if v is _ABSENT else repr(v) for v in (saved, now))
    return [f"{path}: run {was}, now {new}"]


_ABSENT = object()


def added_variants(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The ``eval.variants`` that ``now`` adds to ``saved``, if that is all that differs (a finished
    run can be extended with new models; the splits and the models it has stay the same)."""
    old, new = saved.get("variants") or {}, now.get("variants") or {}
    same_otherwise = ({k: v for k, v in now.items() if k != "variants"}
                      == {k: v for k, v in saved.items() if k != "variants"})
    if not same_otherwise or any(new.get(k) != v for k, v in old.items()):
        return []
    return [k for k in new if k not in old]
