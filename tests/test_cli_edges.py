"""The edges of the command line, tried as a user would (issue 32): every test runs the real
``python predict.py`` (or ``train.py``, ``python -m gennape.model.checkpoint``) in a subprocess,
on small ONNX files exported by torch here, with a tiny checkpoint so that adapting takes seconds.

Each run's exit code and its summary line ("N ranked, M failed") must agree: M > 0 exactly when
the exit code is not 0.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from gennape.graph import from_module
from gennape.model.checkpoint import load_checkpoint, save_checkpoint
from gennape.runtime.checkpoint_file import read_checkpoint_file
from gennape.model.dataset import graph_to_record, record_to_data
from gennape.model.pipeline import fit_clusters, fit_normalisers
from gennape.model.predictor import build_net

ROOT = Path(__file__).resolve().parents[1]
MODEL = dict(hidden=16, num_layers=2, heads=3, head_hidden=16)
NETS = {"small": (8, 1), "medium": (16, 2), "wide": (32, 2)}
UNSAFE_HINTS = ("allow_pickle", "weights_only", "unsafe", "Traceback", "pickle")


from nets import cnn as _cnn  # noqa: E402


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A user's folder: ``m/`` with three CNNs fixed at 32x32, ``dyn.onnx`` with a dynamic height
    and width, ``tiny.ckpt`` (a small predictor), ``known.csv`` (labels of two of them), and a
    private temp folder for the runs (TMPDIR), to see what they leave there."""
    d = tmp_path_factory.mktemp("user")
    (d / "m").mkdir()
    for i, (name, args) in enumerate(NETS.items()):
        torch.manual_seed(i)
        torch.onnx.export(_cnn(*args).eval(), (torch.randn(1, 3, 32, 32),), str(d / "m" / f"{name}.onnx"),
                          dynamo=False, opset_version=17)
    torch.onnx.export(_cnn(8, 1).eval(), (torch.randn(1, 3, 32, 32),), str(d / "dyn.onnx"), dynamo=False,
                      opset_version=17, input_names=["input"], dynamic_axes={"input": {0: "batch", 2: "h", 3: "w"}})
    graphs = []
    for w in (4, 8):
        for depth in (1, 2):
            g = record_to_data(graph_to_record(from_module(_cnn(w, depth), torch.randn(1, 3, 32, 32))))
            g.y = torch.tensor([60.0 + w + depth])
            graphs.append(g)
    net = build_net(**MODEL, seed=0)
    fit_normalisers(net, graphs)
    fit_clusters(net, graphs)
    save_checkpoint(d / "tiny.ckpt", net, {**MODEL, "name": "tiny", "pretrain": {}}, meta={"family": "test"})
    (d / "known.csv").write_text("file,accuracy\nsmall.onnx,61.5\nwide.onnx,72.0\n")
    (d / "tmp").mkdir()
    return d


def _run(work: Path, *args: str, script: str = "predict.py", timeout: float = 120) -> subprocess.CompletedProcess:
    """``python <script> *args`` in the user's folder; one torch thread (the machine is shared)."""
    env = {**os.environ, "TMPDIR": str(work / "tmp"), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": ""}
    cmd = [sys.executable, *(["-m", script] if not script.endswith(".py") else [str(ROOT / script)]), *args]
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)


def _predict(work: Path, *args: str) -> subprocess.CompletedProcess:
    r = _run(work, *args, "--checkpoint", "tiny.ckpt")
    summary = [line for line in r.stderr.splitlines() if re.match(r"\d+ ranked, \d+ failed", line)]
    if summary:  # the exit code and the summary line agree
        failed = int(re.match(r"\d+ ranked, (\d+) failed", summary[0]).group(1))
        assert (failed > 0) == (r.returncode != 0), (r.returncode, summary)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def _leftovers(work: Path) -> list[str]:
    """Hidden temporary files in the user's folder (and below), and anything in the temp folder."""
    hidden = [str(p.relative_to(work)) for p in work.rglob(".*") if p.name.endswith(".tmp")]
    return hidden + [str(p.relative_to(work)) for p in (work / "tmp").iterdir()]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# A process writing a checkpoint that stops half-way (its savez blocks after the first bytes), so
# that it can be interrupted or killed while it writes. ``named``: without unnamed temp files.
WRITER = textwrap.dedent("""
    import signal, sys, time
    # Ctrl-C raises KeyboardInterrupt even where the test runner was started in the background
    # (a shell starts background jobs with SIGINT ignored, and Python then keeps it ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    from gennape.runtime import checkpoint_file as cf
    if sys.argv[2] == "named":
        cf._unnamed_file = lambda folder: None
    header, arrays = cf.read_checkpoint_file(sys.argv[3])
    def stuck_savez(f, **arrays):
        f.write(b"PK\\x03\\x04" + bytes(26) + b"__header__.npy")
        f.flush()
        print("writing", flush=True)
        time.sleep(60)
    np.savez = stuck_savez
    cf.write_checkpoint_file(sys.argv[1], header, arrays)
""")


def _interrupted_write(work: Path, target: Path, mode: str, sig: int) -> list[str]:
    """Start a writer, send ``sig`` while it writes; the files the folder showed meanwhile."""
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(target), mode, str(work / "tiny.ckpt")],
                         stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.stdout.readline().strip() == "writing"
    during = sorted(q.name for q in target.parent.iterdir())
    p.send_signal(sig)
    p.wait(timeout=30)
    return during


@pytest.fixture(scope="module")
def adapted(work):
    """One adapting run, as a user saves it into an existing folder; that folder holds the
    temporary file of a writer killed (kill -9) earlier, which the run removes."""
    out = work / "out"
    out.mkdir()
    _interrupted_write(work, out / "adapted.ckpt", "named", signal.SIGKILL)
    stale = sorted(q.name for q in out.iterdir())
    t = time.perf_counter()
    r = _predict(work, "m", "--labels", "known.csv", "--save-checkpoint", "out", "--format", "json")
    return {"run": r, "stale": stale, "seconds": time.perf_counter() - t, "out": out}


# 1. --save-checkpoint --------------------------------------------------------------------------

def test_save_checkpoint_into_a_folder_prints_the_path_and_leaves_no_temp_file(work, adapted):
    r, out = adapted["run"], adapted["out"]
    assert len(adapted["stale"]) == 1 and re.fullmatch(r"\.adapted\.ckpt\.\d+\.tmp", adapted["stale"][0])
    assert r.returncode == 0, r.stderr
    assert f"adapted checkpoint saved to {Path('out') / 'adapted.ckpt'}" in r.stderr.splitlines()
    assert sorted(q.name for q in out.iterdir()) == ["adapted.ckpt"]  # the killed writer's temp file is gone
    assert load_checkpoint(out / "adapted.ckpt").meta["adapted"]["labels"] == 2
    assert not _leftovers(work)


def test_save_checkpoint_missing_folder_skipped_save_and_failed_save(work):
    r = _predict(work, "m", "--labels", "known.csv", "--save-checkpoint", "nosuch/sub/mine.ckpt")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == ["error: cannot save the checkpoint to nosuch/sub/mine.ckpt: nosuch/sub: "
                                     "no such folder (create it first)"]
    assert not (work / "nosuch").exists()  # never created
    (work / "one.csv").write_text("file,accuracy\nsmall.onnx,61.5\n")  # one usable label: nothing to adapt
    r = _predict(work, "m", "--labels", "one.csv", "--save-checkpoint", "skipped.ckpt", "--format", "csv")
    assert r.returncode == 1 and len(r.stdout.splitlines()) == 1 + len(NETS)  # ranked all the same
    skipped = [line for line in r.stderr.splitlines() if "skipped.ckpt" in line]
    assert skipped == ["warning: checkpoint not saved: skipped.ckpt: skipped, the labels were not used"]
    assert not (work / "skipped.ckpt").exists()
    long_name = "out/" + "x" * 300 + ".ckpt"  # the folder exists; writing fails after adapting
    r = _predict(work, "m", "--labels", "known.csv", "--save-checkpoint", long_name, "--format", "json")
    assert r.returncode == 1 and len(json.loads(r.stdout)) == len(NETS)  # the ranking computed is printed
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: checkpoint not saved: {long_name}: File name too long"]
    assert " 1 failed (the checkpoint's save)" in r.stderr
    assert not _leftovers(work)


@pytest.mark.parametrize("mode", ["unnamed", "named"])
def test_a_write_interrupted_or_killed_leaves_no_temp_file(work, tmp_path, mode):
    """Ctrl-C removes the temporary file; a kill -9 cannot run anything: with an unnamed temporary
    file (Linux) there is none to see even while it is written; with a named one, the next write
    in the folder removes it (test_save_checkpoint_into_a_folder...)."""
    during = _interrupted_write(work, tmp_path / "a.ckpt", mode, signal.SIGINT)
    assert not list(tmp_path.iterdir())
    if mode == "unnamed" and hasattr(os, "O_TMPFILE"):
        assert during == []
    during = _interrupted_write(work, tmp_path / "a.ckpt", mode, signal.SIGKILL)
    if mode == "unnamed" and hasattr(os, "O_TMPFILE"):
        assert during == [] and not list(tmp_path.iterdir())
    else:
        assert len(during) == 1 and [q.name for q in tmp_path.iterdir()] == during
        from gennape.runtime.checkpoint_file import remove_stale_temps

        (tmp_path / f".b.ckpt.{_dead_pid()}.tmp").write_text("not ours: left alone")
        (tmp_path / f".c.ckpt.{os.getpid()}.tmp").write_bytes(b"")  # a running process's: left alone
        assert [q.name for q in remove_stale_temps(tmp_path)] == during
        assert len(list(tmp_path.iterdir())) == 2


# 2. labels files --------------------------------------------------------------------------------

def test_labels_file_reports_every_problem_and_the_exit_code_agrees(work):
    (work / "bad.csv").write_text("file,accuracy\nsmall.onnx,61.5\nnothere.onnx,70\nwide.onnx,abc\n\n"
                                  "small.onnx,62\nmedium.onnx,inf\n")
    r = _predict(work, "m", "--labels", "bad.csv")
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: labels not used: bad.csv, line 3: 'nothere.onnx' matches no input file",
                      "error: labels not used: bad.csv, line 4: accuracy 'abc' of 'wide.onnx' is not a number",
                      "error: labels not used: bad.csv, line 6: m/small.onnx is labelled twice (first on line 2)",
                      "error: labels not used: bad.csv, line 7: accuracy of 'medium.onnx' is inf, not a finite "
                      "number"]
    assert r.returncode == 1 and f"{len(NETS)} ranked, 1 failed (the labels)" in r.stderr
    assert "small.onnx" in r.stdout and "pred. acc" in r.stdout  # still ranked, without adapting


# 3. --input-size on a fixed-size model ---------------------------------------------------------

def test_input_size_on_a_fixed_size_model_is_a_one_line_warning(work):
    r = _predict(work, "m/small.onnx", "dyn.onnx", "--input-size", "64", "64")
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: --input-size 64 64 ignored for 1 file(s) whose input size is fixed, predicted "
                        "at their own: m/small.onnx (32x32)"]
    assert r.returncode == 0 and "dyn.onnx" in r.stdout  # the dynamic one runs at 64x64
    r = _predict(work, "dyn.onnx", "--input-size", "32", "32")
    assert r.returncode == 0 and "warning" not in r.stderr


# 4. checkpoint errors ---------------------------------------------------------------------------

def test_a_file_that_is_not_a_gennape_checkpoint_says_so(work, tmp_path):
    (tmp_path / "random.ckpt").write_bytes(os.urandom(4096))
    torch.save({"a": 1}, tmp_path / "other.ckpt")
    # a real version-1 gennape checkpoint (a torch.save of plain data): upgrade is suggested, and works
    header, arrays = read_checkpoint_file(work / "tiny.ckpt")
    old = tmp_path / "old.ckpt"
    torch.save({**header, "format_version": 1, "state_dict": {k: torch.from_numpy(v) for k, v in arrays.items()}},
               old)
    expected = {"random.ckpt": f"error: {tmp_path / 'random.ckpt'}: not a gennape checkpoint",
                "other.ckpt": f"error: {tmp_path / 'other.ckpt'}: not a gennape checkpoint (a torch file of "
                              f"something else)",
                "old.ckpt": f"error: {old}: a gennape checkpoint of the older torch format (version 1); convert it "
                            f"with `python -m gennape.model.checkpoint upgrade {old}`"}
    for name, line in expected.items():
        r = _run(work, "m/small.onnx", "--checkpoint", str(tmp_path / name))
        assert r.returncode == 2 and r.stdout == "" and r.stderr.splitlines() == [line]
        if name != "old.ckpt":
            assert not any(h in r.stderr for h in (*UNSAFE_HINTS, "upgrade")), r.stderr
    r = _run(work, "upgrade", *(str(tmp_path / n) for n in expected), script="gennape.model.checkpoint")
    assert r.returncode == 1 and r.stdout.splitlines() == [f"{old}: upgraded"]
    assert r.stderr.splitlines() == [expected["random.ckpt"], expected["other.ckpt"]]  # one line each, no hint
    assert not any(h in r.stderr for h in UNSAFE_HINTS)
    assert _run(work, "m/small.onnx", "--checkpoint", str(old)).returncode == 0
    from gennape.model.checkpoint import main as checkpoint_main

    assert checkpoint_main(["upgrade", str(old)]) == 0  # already in today's format: left as it is


# 5. nothing left behind; train.log --------------------------------------------------------------

def test_adapting_leaves_nothing_in_the_temp_folder_and_train_log_holds_the_run(work, adapted, tmp_path):
    assert adapted["run"].returncode == 0
    assert not list((work / "tmp").iterdir())  # no torch_geometric...GraphConv_propagate_*.py
    run = tmp_path / "run"
    r = _run(work, f"hydra.run.dir={run}", f"ckpt_path={tmp_path / 'no_run'}", script="train.py")
    assert r.returncode == 1 and "no such run folder" in r.stderr
    assert f"ckpt_path={tmp_path / 'no_run'}: no such run folder" in (run / "train.log").read_text()


# 6. no noise ------------------------------------------------------------------------------------

def test_adapting_prints_no_library_banners(adapted):
    lines = adapted["run"].stderr.splitlines()
    assert len(lines) == 3, lines  # where the checkpoint went, what the columns are, and the summary
    assert lines[0].startswith("adapted checkpoint saved to ") and lines[2].startswith(f"{len(NETS)} ranked, 0 failed")
    assert lines[1].startswith("predicted accuracy: on custom's scale (2 labels, 61.50-72.00")


def test_pytest_filters_the_library_warnings_by_their_exact_message(tmp_path):
    """The warnings the default test run met (Lightning's, on tiny training runs) are filtered by
    pyproject.toml; another warning still shows."""
    (tmp_path / "test_w.py").write_text(textwrap.dedent("""
        import warnings
        def test_w():
            warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec) "
                          "and treespec.is_leaf()` instead.", FutureWarning)
            warnings.warn("The number of training batches (3) is smaller than the logging interval "
                          "Trainer(log_every_n_steps=10). Set a lower value for log_every_n_steps if you want "
                          "to see logs for the training epoch.", UserWarning)
            warnings.warn("Checkpoint directory /tmp/x/regress exists and is not empty.", UserWarning)
            warnings.warn("a warning of ours", UserWarning)
    """))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-c", str(ROOT / "pyproject.toml"),
                        "--rootdir", str(tmp_path), str(tmp_path / "test_w.py")],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert "1 passed, 1 warning" in r.stdout, r.stdout


# 7. integers ------------------------------------------------------------------------------------

def test_counts_print_as_integers_in_every_format(work):
    rows = json.loads(_predict(work, "m", "--format", "json").stdout)
    assert all(type(o["flops"]) is int and type(o["params"]) is int for o in rows)
    text = _predict(work, "m", "--format", "csv").stdout
    for row in csv.DictReader(io.StringIO(text)):
        assert re.fullmatch(r"\d+", row["flops"]) and re.fullmatch(r"\d+", row["params"]), row
    table = _predict(work, "m").stdout.splitlines()
    assert table[0].split()[-2] == "params"
    assert all(re.fullmatch(r"[\d,]+", line.split()[-2]) for line in table[1:1 + len(NETS)]), table
