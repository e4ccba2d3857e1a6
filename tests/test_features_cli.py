"""``python -m gennape.features`` on a few NB-201 cells: resume, kill -9, time bound, ONNX folders, Ray.

Needs the data mirror (the NB-201 table and the CIFAR-10 images of the proxy batch).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from gennape.core.paths import PROJECT_ROOT, mirror_root
from gennape.features.__main__ import main
from gennape.features.extract import ExtractConfig, extract, select_archs
from gennape.features.store import FeatureStore

pytestmark = pytest.mark.skipif(
    mirror_root() is None, reason="no data mirror (../shared/data) on this machine; tests never download"
)

CHEAP = ["flops", "params", "synflow", "l2_norm"]
N = 8  # NB-201 cells

PLUGIN = '''
"""A test feature that hangs on the architecture named by $GENNAPE_TEST_SLOW_KEY."""
import os
import time

from gennape.features.catalog import register_feature


@register_feature("sleepy", default=False)
def sleepy(cg, inputs):
    if cg.name == os.environ.get("GENNAPE_TEST_SLOW_KEY"):
        time.sleep(600)
    return 1.0
'''


def cli_args(store: Path, *extra: str) -> list[str]:
    return ["family=nb201", f"limit={N}", f"features=[{','.join(CHEAP)}]", f"store={store}", "progress=false", *extra]


def values(store: Path) -> pd.DataFrame:
    with FeatureStore(store) as s:
        return s.frame(CHEAP, by="key").sort_index()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run over two local worker processes."""
    store = tmp_path_factory.mktemp("ref") / "nb201.sqlite"
    assert main(cli_args(store, "workers=2")) == 0
    return store


@pytest.fixture
def sleepy_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Makes the ``sleepy`` feature importable here and in workers; unregisters it afterwards."""
    from gennape.features import catalog

    (tmp_path / "sleepy_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    yield "sleepy_plugin"
    catalog._FEATURES.pop("sleepy", None)
    sys.modules.pop("sleepy_plugin", None)


def test_cli_features_every_cell_once_and_resumes(reference: Path, capsys: pytest.CaptureFixture) -> None:
    frame = values(reference)
    assert len(frame) == N and frame[CHEAP].notna().all().all()
    assert (frame["flops"] > 0).all() and (frame["params"] > 0).all()
    with FeatureStore(reference) as s:
        rows = s.rows()
        assert len(rows) == frame["hash"].nunique() * len(CHEAP)  # once per hash, no duplicates
        assert set(rows["feature"]) == set(CHEAP)
    assert main(cli_args(reference, "workers=1")) == 0
    out = capsys.readouterr().out
    assert f"{N} architectures" in out and "0 computed now" in out


def test_kill_9_at_any_moment_then_resume(reference: Path, tmp_path: Path) -> None:
    store = tmp_path / "killed.sqlite"
    with open(tmp_path / "log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gennape.features", *cli_args(store, "workers=1")],
                                cwd=PROJECT_ROOT, stdout=log, stderr=log, start_new_session=True)
    done = 0
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline and done == 0:
            time.sleep(0.02)
            try:
                with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
                    done = db.execute("SELECT COUNT(DISTINCT hash) FROM features").fetchone()[0]
            except sqlite3.OperationalError:  # not created yet
                pass
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its workers
        proc.wait()
    assert done >= 1, (tmp_path / "log").read_text()[-2000:]
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        per_hash = db.execute("SELECT hash, COUNT(*) FROM features GROUP BY hash").fetchall()
    assert 1 <= len(per_hash) < N and all(n == len(CHEAP) for _, n in per_hash)  # all or nothing per arch
    assert main(cli_args(store, "workers=1")) == 0
    with FeatureStore(store) as s:
        assert not s.rows().duplicated(["hash", "feature"]).any()
    pd.testing.assert_frame_equal(values(store), values(reference))


def test_an_architecture_over_its_time_bound_is_missing_timeout(
        reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sleepy_plugin: str) -> None:
    ref = values(reference)
    slow = ref.index[3]
    monkeypatch.setenv("GENNAPE_TEST_SLOW_KEY", slow)
    store = tmp_path / "timeout.sqlite"
    cfg = ExtractConfig(family="nb201", limit=N, features=["flops", "sleepy"], store=str(store), workers=2,
                        timeout_s=6, imports=[sleepy_plugin], progress=False)
    start = time.monotonic()
    summary = extract(cfg)
    assert time.monotonic() - start < 60
    assert summary.missing["sleepy"] == {"timeout": 1} and summary.computed == N
    with FeatureStore(store) as s:
        got, why = s.frame(by="key"), s.reasons(by="key")
    assert why.loc[slow, "sleepy"] == "timeout" and why.loc[slow, "flops"] == "timeout"
    others = got.drop(index=slow)
    assert (others["sleepy"] == 1.0).all()
    pd.testing.assert_series_equal(others["flops"], ref.drop(index=slow)["flops"], check_like=True)


def _tiny_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 10)).eval()


def test_onnx_folder_same_features_as_the_spec_and_a_clear_error(reference: Path, tmp_path: Path) -> None:
    from gennape.spaces import get_space

    ref = values(reference)
    spec = ref.index[0]
    space = get_space("nb201")
    folder = tmp_path / "nets"
    (folder / "sub").mkdir(parents=True)
    x = torch.zeros(1, *space.input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(space.build(space.parse(spec)).eval(), (x,), str(folder / "cell.onnx"), dynamo=True)
        torch.onnx.export(_tiny_cnn(), (x,), str(folder / "sub" / "tiny.onnx"), dynamo=False, opset_version=17)
    (folder / "broken.onnx").write_bytes(b"this is not a protobuf")
    store = tmp_path / "onnx.sqlite"
    summary = extract(ExtractConfig(onnx=str(folder), features=CHEAP, store=str(store), workers=1, progress=False))
    assert summary.archs == 3 and summary.graphs == 2
    assert list(summary.index_errors) == ["broken.onnx"]
    assert "broken.onnx" in summary.index_errors["broken.onnx"]  # the error names the file
    got = values(store)
    assert list(got.index) == ["cell.onnx", "sub/tiny.onnx"] and got[CHEAP].notna().all().all()
    # Same network from a spec (traced module) and from a dynamo ONNX export: same hash, same features.
    pd.testing.assert_series_equal(got.loc["cell.onnx"], ref.loc[spec], check_names=False)


@pytest.mark.slow
def test_ray_executor_matches_local(reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    sleepy_plugin: str) -> None:
    ray = pytest.importorskip("ray")
    ref = values(reference)
    _, archs = select_archs(ExtractConfig(family="nb201", limit=4))
    slow = archs[1].key
    monkeypatch.setenv("GENNAPE_TEST_SLOW_KEY", slow)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        store = tmp_path / "ray.sqlite"
        assert main(cli_args(store, "executor=ray", "workers=1")) == 0
        pd.testing.assert_frame_equal(values(store), ref)
        timed = tmp_path / "ray_timeout.sqlite"
        summary = extract(ExtractConfig(family="nb201", limit=4, features=["flops", "sleepy"], store=str(timed),
                                        executor="ray", workers=1, timeout_s=20, imports=[sleepy_plugin],
                                        progress=False))
    finally:
        ray.shutdown()
    with FeatureStore(timed) as s:
        why = s.reasons(by="key")
    assert summary.computed == 4 and summary.missing["sleepy"] == {"timeout": 1}
    assert why.loc[slow, "sleepy"] == "timeout" and why.drop(index=slow)["sleepy"].isna().all()
