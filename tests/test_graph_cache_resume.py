"""A graph cache build killed part way keeps what it saved, and the next build only does the rest;
``workers=None`` means every core (fewer for few graphs)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from gennape.model import dataset as D
from gennape.data.families import graph_of
from gennape.spaces import get_space

SPECS = [get_space("nb201").spec_to_str(s) for s in get_space("nb201").sample(150, seed=4)]


def test_killed_build_resumes(tmp_path, monkeypatch):
    script = textwrap.dedent(f"""
        import os, signal, sys
        from gennape.model import dataset as D
        from gennape.spaces import get_space
        D.SAVE_EVERY = 50
        specs = [get_space("nb201").spec_to_str(s) for s in get_space("nb201").sample(150, seed=4)]
        def progress(done, total):
            if done >= 100:
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, as a kill -9 mid-build
        D.encode_specs("nb201", specs, {str(tmp_path)!r}, workers=1, progress=progress)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr
    path = tmp_path / "graphs_nb201.pt"
    saved = D.load_cache(path)
    assert list(saved) == SPECS[:50]  # the first save; the second 50 were lost with the process

    built = []

    def counting(args):
        built.append(args[1])
        return D.build_record(*args)

    monkeypatch.setattr(D, "_build_worker_local", counting)
    recs = D.encode_specs("nb201", SPECS, tmp_path, workers=1)
    assert built == SPECS[50:]
    assert [r["hash"] for r in recs] == [graph_of("nb201", s).hash for s in SPECS]
    assert list(D.load_cache(path)) == SPECS and not list(tmp_path.glob("*.tmp"))


def test_build_workers():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert D.build_workers(None, 10**6) == cores
    assert D.build_workers(0, 10**6) == cores
    assert D.build_workers(3, 10**6) == 3
    assert D.build_workers(None, 10) == 1  # a few graphs: not worth starting processes
    assert D.build_workers(8, 2 * D.MIN_JOBS_PER_WORKER) == 2


def test_parallel_build_gives_the_local_records(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(D, "MIN_JOBS_PER_WORKER", 10)
    specs = SPECS[:40]
    par = D.encode_specs("nb201", specs, tmp_path / "par", workers=2)
    loc = D.encode_specs("nb201", specs, tmp_path / "loc", workers=1)
    for a, b in zip(par, loc):
        assert a.keys() == b.keys()
        for k in a:
            assert (torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype) if isinstance(a[k], torch.Tensor) else a[k] == b[k]
