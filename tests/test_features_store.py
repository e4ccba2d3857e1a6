"""Feature store, feature registry, stratified subsets and the local executor; no data needed."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from gennape.features.catalog import (
    FeatureInputs,
    compute_features,
    default_features,
    get_feature,
    list_features,
    register_feature,
)
from gennape.features.executors import get_executor, list_executors
from gennape.features.extract import ExtractConfig, feature_names, stratified_subset
from gennape.features.proxies import ProxyResult, list_proxies
from gennape.features.store import FeatureStore
from gennape.graph import from_module


def R(value: float | None, reason: str | None = None, seconds: float = 0.5) -> ProxyResult:
    return ProxyResult(value, reason, seconds)


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    with FeatureStore(tmp_path / "fam.sqlite") as s:
        yield s


# --- store -----------------------------------------------------------------------------------


def test_store_put_frame_reasons_and_keys(store: FeatureStore) -> None:
    store.put_archs([("spec_a", "h1", None), ("spec_b", "h1", None), ("spec_c", "h2", None),
                     ("bad", None, "GraphError: corrupt")])
    store.put("h1", {"flops": R(10.0), "synflow": R(None, "timeout")})
    store.put("h2", {"flops": R(20.0)})
    wide = store.frame()
    assert list(wide.columns) == ["flops", "synflow"]
    assert wide.loc["h1", "flops"] == 10.0 and math.isnan(wide.loc["h1", "synflow"])
    assert math.isnan(wide.loc["h2", "synflow"])  # never computed: NaN too
    assert wide.dtypes.eq("float64").all()
    reasons = store.reasons(["synflow", "flops"])
    assert list(reasons.columns) == ["synflow", "flops"]
    assert reasons.loc["h1", "synflow"] == "timeout" and reasons.loc["h1", "flops"] is None
    by_key = store.frame(["flops"], by="key")
    assert by_key.loc["spec_a", "flops"] == by_key.loc["spec_b", "flops"] == 10.0  # shared hash
    assert "bad" not in by_key.index
    assert store.archs(["spec_a", "bad", "nope"]) == {"spec_a": ("h1", None), "bad": (None, "GraphError: corrupt")}
    with pytest.raises(ValueError, match="by must be"):
        store.frame(by="spec")


def test_store_done_missing_retry(store: FeatureStore) -> None:
    store.put("h1", {"a": R(1.0), "b": R(None, "nan")})
    store.put("h2", {"a": R(2.0)})
    assert store.done(["h1", "h2", "h3"], ["a", "b"]) == {"h1"}  # a missing value with a reason is done
    assert store.missing(["h1", "h2", "h3"], ["a", "b"]) == {"h2": ["b"], "h3": ["a", "b"]}
    assert store.missing(["h1", "h2"], ["a", "b"], retry=True) == {"h1": ["b"], "h2": ["b"]}
    store.put("h1", {"b": R(3.0)})  # a retry replaces the row, never duplicates it
    rows = store.rows()
    assert len(rows) == 3 and not rows.duplicated(["hash", "feature"]).any()
    assert store.frame().loc["h1", "b"] == 3.0


def test_store_never_holds_nan_or_inf(store: FeatureStore) -> None:
    # Duck-typed results (a plugin's own result type) can carry NaN; the store records a reason.
    store.put("h", {"x": SimpleNamespace(value=float("nan"), reason=None, seconds=0.1),
                    "y": SimpleNamespace(value=float("-inf"), reason=None, seconds=0.1),
                    "z": SimpleNamespace(value=None, reason=None, seconds=0.1)})
    rows = store.rows().set_index("feature")
    assert rows["value"].isna().all()
    assert rows["reason"].to_dict() == {"x": "nan", "y": "inf", "z": "missing"}
    with sqlite3.connect(store.path) as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO features VALUES ('h', 'w', NULL, NULL, 0)")  # missing needs a reason


def test_store_put_is_one_transaction(store: FeatureStore) -> None:
    bad = SimpleNamespace(value=1.0, reason=None, seconds="not a number")  # fails on the 2nd row
    with pytest.raises((TypeError, ValueError)):
        store.put("h", {"a": R(1.0), "b": bad})
    assert store.rows().empty  # the first row was rolled back with the second


def test_store_persists_and_checks_settings(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "fam.sqlite"
    with FeatureStore(path) as s:
        s.check_settings({"seed": 0, "batch_size": 64})
        s.put("h", {"a": R(1.5)})
    with FeatureStore(path) as s:
        s.check_settings({"batch_size": 64, "seed": 0})
        assert s.frame().loc["h", "a"] == 1.5
        with pytest.raises(ValueError, match="another store"):
            s.check_settings({"seed": 1, "batch_size": 64})
    assert (tmp_path / "sub" / "fam.sqlite").is_file()


def test_store_handles_many_hashes(store: FeatureStore) -> None:
    hashes = [f"h{i}" for i in range(1500)]  # more than one statement's parameter limit
    store.put_archs([(f"k{i}", h, None) for i, h in enumerate(hashes)])
    for h in hashes[::2]:
        store.put(h, {"a": R(1.0)})
    assert len(store.done(hashes, ["a"])) == 750
    assert len(store.archs([f"k{i}" for i in range(1500)])) == 1500


# --- feature registry -------------------------------------------------------------------------


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


@pytest.fixture(scope="module")
def tiny_cg():
    return from_module(Tiny(), torch.zeros(1, 3, 8, 8))


@pytest.fixture
def scratch_features():
    """Register test features, removed again afterwards."""
    from gennape.features import catalog

    before = dict(catalog._FEATURES)
    yield register_feature
    catalog._FEATURES.clear()
    catalog._FEATURES.update(before)


def test_feature_registry() -> None:
    names = list_features()
    assert set(list_proxies()) | {"flops", "params", "nngp", "nngp_loss"} <= set(names)
    assert set(default_features()) == set(list_proxies()) | {"flops", "params"}  # NNGP is opt-in
    assert get_feature("nngp") is get_feature("nngp_loss")
    with pytest.raises(KeyError, match="unknown feature 'nope'"):
        get_feature("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_feature("flops")(lambda cg, inputs: 1.0)
    assert feature_names(ExtractConfig(proxies=["synflow", "flops", "synflow"])) == ["synflow", "flops"]
    with pytest.raises(ValueError, match="not both"):
        feature_names(ExtractConfig(features=["flops"], proxies=["flops"]))
    with pytest.raises(KeyError):
        feature_names(ExtractConfig(features=["flops", "nope"]))


def test_compute_features_records_failures_with_reasons(tiny_cg, scratch_features) -> None:
    calls = []

    @scratch_features("t_a", "t_b", default=False)
    def _pair(cg, inputs):
        calls.append(1)
        return {"t_a": 1.0, "t_b": float("inf")}

    scratch_features("t_nan", default=False)(lambda cg, inputs: float("nan"))
    scratch_features("t_err", default=False)(lambda cg, inputs: 1 / 0)
    batch = (torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
    out = compute_features(tiny_cg, ["t_b", "flops", "t_a", "t_nan", "t_err", "synflow", "params"],
                           FeatureInputs(batch=batch))
    assert list(out) == ["t_b", "flops", "t_a", "t_nan", "t_err", "synflow", "params"]
    assert len(calls) == 1  # one producer, two outputs, computed once
    assert out["t_a"].value == 1.0 and out["t_b"].reason == "+inf (overflow)"
    assert out["t_nan"].reason == "nan" and out["t_err"].reason.startswith("error: ZeroDivisionError")
    assert out["flops"].value == tiny_cg.flops and out["params"].value == tiny_cg.params
    assert out["synflow"].ok and math.isfinite(out["synflow"].value)
    again = compute_features(tiny_cg, ["synflow"], FeatureInputs(batch=batch))
    assert again["synflow"].value == out["synflow"].value  # fresh, seeded initialisation


# --- stratified subsets -----------------------------------------------------------------------


def test_stratified_subset_is_reproducible_and_even() -> None:
    acc = np.random.default_rng(0).normal(70, 10, size=1000)
    acc[:20] = np.nan
    a = stratified_subset(acc, 100, seed=3)
    assert np.array_equal(a, stratified_subset(acc, 100, seed=3))
    assert not np.array_equal(a, stratified_subset(acc, 100, seed=4))
    assert len(a) == 100 and len(set(a)) == 100 and np.all(np.diff(a) > 0)
    deciles = pd.qcut(pd.Series(acc[20:]).rank(method="first"), 10, labels=False)
    counts = np.bincount(deciles.to_numpy()[a[a >= 20] - 20], minlength=10)
    assert counts.min() >= 9 and counts.max() <= 10  # ~98 / 10 in every decile
    assert np.array_equal(stratified_subset(acc, 5000), np.arange(1000))


# --- local executor ---------------------------------------------------------------------------


def _work(item: tuple[str, float], shared: str) -> str:
    what, arg = item
    if what == "raise":
        raise RuntimeError("bad item")
    if what == "exit":
        import os

        os._exit(3)  # the worker dies
    time.sleep(arg)
    return f"{shared}:{arg}"


def test_local_executor_timeout_error_and_crash() -> None:
    assert {"local", "ray"} <= set(list_executors())
    items = [("sleep", 0.0), ("sleep", 60.0), ("raise", 0), ("exit", 0), ("sleep", 0.1)]
    with get_executor("local")(workers=2, shared="s") as ex:
        out = dict(ex.map(_work, items, timeout_s=3.0))
    assert out[("sleep", 0.0)].value == "s:0.0" and out[("sleep", 0.1)].value == "s:0.1"
    assert out[("sleep", 60.0)].error == "timeout"
    assert out[("raise", 0)].error == "error: RuntimeError: bad item"
    assert out[("exit", 0)].error.startswith("crash: worker died")
    with pytest.raises(ValueError, match="executor=ray"):
        get_executor("local")(workers=1, address="auto")


def test_cli_rejects_bad_settings_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from gennape.features.__main__ import main

    store = tmp_path / "never.sqlite"
    for argv, msg in [(["family=nb201", "features=[flopz]"], "unknown feature 'flopz'"),
                      (["family=nb201", "executor=nope"], "unknown executor 'nope'"),
                      (["bogus=1"], "Key 'bogus' not in 'ExtractConfig'"),
                      (["features=[flops]"], "say what to featurise"),
                      ([f"onnx={tmp_path}"], "no .onnx files")]:
        assert main([*argv, f"store={store}"]) == 2
        assert msg in capsys.readouterr().err
    assert not store.exists()
    assert main(["--help"]) == 0 and "nngp" in capsys.readouterr().out
