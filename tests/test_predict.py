"""Checkpoints and predict.py on real ONNX files exported by torch."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import predict as predict_cli  # noqa: E402
from gennape.graph import from_module, from_onnx  # noqa: E402
from gennape.graph.ops import get_op, list_ops  # noqa: E402
from gennape.inference.predict import DEFAULT_CHECKPOINT, TaskError, checkpoint_tasks, predict_files, predict_graphs  # noqa: E402
from gennape.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from gennape.model.checkpoint import main as ckpt_main  # noqa: E402
from gennape.runtime.checkpoint_file import read_checkpoint_file  # noqa: E402
from gennape.runtime.net import Runtime  # noqa: E402
from gennape.model.dataset import graph_to_record, record_to_data  # noqa: E402
from gennape.model.pipeline import fit_clusters, fit_normalisers, predict  # noqa: E402
from gennape.model.predictor import build_net  # noqa: E402

MODEL = dict(hidden=16, num_layers=2, heads=3, head_hidden=16)


def _cnn(width: int, depth: int, kernel: int = 3) -> nn.Module:
    layers, c = [], 3
    for _ in range(depth):
        layers += [nn.Conv2d(c, width, kernel, padding=kernel // 2), nn.BatchNorm2d(width), nn.ReLU()]
        c = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


NETS = {"small": (8, 1, 3), "medium": (16, 2, 3), "wide": (32, 2, 5), "deep": (16, 4, 3)}


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    """Real ONNX files (legacy exporter, opset 17: fast) at two resolutions, plus a corrupt one."""
    d = tmp_path_factory.mktemp("onnx")
    for i, (name, args) in enumerate(NETS.items()):
        torch.manual_seed(i)
        size = 32 if i % 2 == 0 else 48
        torch.onnx.export(_cnn(*args).eval(), (torch.randn(1, 3, size, size),), str(d / f"{name}.onnx"),
                          dynamo=False, opset_version=17)
    (d / "broken.onnx").write_bytes(b"this is not a protobuf")
    return d


@pytest.fixture(scope="module")
def ckpt_path(tmp_path_factory):
    """A tiny predictor fitted (normalisers, clusters) on graphs of small CNNs; heads untrained."""
    graphs = []
    for w in (4, 8, 16):
        for depth in (1, 2, 3):
            cg = from_module(_cnn(w, depth), torch.randn(1, 3, 32, 32))
            d = record_to_data(graph_to_record(cg))
            d.y = torch.tensor([60.0 + w + depth])
            graphs.append(d)
    net = build_net(**MODEL, seed=0)
    fit_normalisers(net, graphs)
    fit_clusters(net, graphs)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    save_checkpoint(path, net, {**MODEL, "name": "tiny", "pretrain": {}}, meta={"family": "test"})
    return path


def test_checkpoint_round_trip_gives_the_same_predictions(ckpt_path, onnx_dir):
    ckpt = load_checkpoint(ckpt_path)
    assert ckpt.meta == {"family": "test"} and ckpt.model["heads"] == 3 and not ckpt.net.training
    assert bool(ckpt.net.fcm.fitted) and bool(ckpt.net.transform.fitted)
    cg = from_onnx(onnx_dir / "medium.onnx")
    a = predict_graphs(ckpt, [cg])["score"]
    b = predict_graphs(load_checkpoint(ckpt_path), [cg])["score"]
    assert a == pytest.approx(b)


def _npz(path, header, arrays):
    with open(path, "wb") as f:
        np.savez(f, __header__=np.array(json.dumps(header)), **arrays)
    return path


def test_checkpoint_refuses_pickled_objects_and_other_files(tmp_path, ckpt_path):
    header, arrays = read_checkpoint_file(ckpt_path)
    evil = tmp_path / "evil.ckpt"
    with open(evil, "wb") as f:  # an object array can only be read by unpickling
        np.savez(f, __header__=np.array(json.dumps(header)), payload=np.array([Path("x")], dtype=object))
    with pytest.raises(CheckpointError, match="evil.ckpt: not a readable gennape checkpoint"):
        load_checkpoint(evil)
    text = tmp_path / "notes.ckpt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.ckpt"):
        load_checkpoint(text)
    other = _npz(tmp_path / "other.ckpt", {"state_dict": {}}, {})
    with pytest.raises(CheckpointError, match="other.ckpt: not a gennape checkpoint"):
        load_checkpoint(other)
    future = _npz(tmp_path / "future.ckpt", {**header, "format_version": 99}, arrays)
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(future)
    with pytest.raises(CheckpointError, match="format version 99"):
        Runtime.load(future)  # prediction reads the file with the same checks
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.ckpt")
    arrays_cut = {k: v for k, v in arrays.items() if not k.startswith("heads.")}
    cut = _npz(tmp_path / "cut.ckpt", header, arrays_cut)
    for load in (load_checkpoint, Runtime.load):  # weights missing: one line naming the file
        with pytest.raises(CheckpointError, match="cut.ckpt: its weights do not fit"):
            load(cut)
    old = tmp_path / "old.ckpt"  # format 1: a torch.save of plain data
    torch.save({**header, "format_version": 1, "state_dict": {k: torch.from_numpy(v) for k, v in arrays.items()}}, old)
    with pytest.raises(CheckpointError, match="older torch format.*upgrade"):
        load_checkpoint(old)
    assert ckpt_main(["upgrade", str(text), str(old)]) == 1  # notes.ckpt fails, old.ckpt is still upgraded
    assert load_checkpoint(old).meta == {"family": "test"}


def test_checkpoint_remaps_a_grown_op_vocabulary(tmp_path, ckpt_path):
    """A checkpoint written before an op existed still loads: rows move by op name, the new op
    gets the mean embedding of its kind (as ops unseen in training do)."""
    header, arrays = read_checkpoint_file(ckpt_path)
    ops = list_ops()
    emb = arrays["encoder.op_embed.weight"]
    dropped = ops.index("DepthwiseConv")  # of kind conv, as Conv is
    keep = [i for i in range(len(ops)) if i != dropped]
    arrays["encoder.op_embed.weight"] = emb[keep][::-1]
    _npz(tmp_path / "old.ckpt", {**header, "vocab": [ops[i] for i in keep][::-1]}, arrays)
    for new in (load_checkpoint(tmp_path / "old.ckpt").net.encoder.op_embed.weight.detach().numpy(),
                Runtime.load(tmp_path / "old.ckpt").op_embed):
        assert all(np.allclose(new[i], emb[i]) for i in keep)
        same = [i for i in keep if get_op(ops[i]).kind == "conv"]
        assert same and np.allclose(new[dropped], emb[same].mean(0))
    # nothing in common: refused, not NaN rows
    _npz(tmp_path / "alien.ckpt", {**header, "vocab": [f"Future{i}" for i in range(len(keep))]}, arrays)
    with pytest.raises(CheckpointError, match="shares no op"):
        load_checkpoint(tmp_path / "alien.ckpt")


def test_predict_files_ranks_and_keeps_going_past_bad_files(ckpt_path, onnx_dir, tmp_path):
    preds = predict_files([onnx_dir, tmp_path / "nope.onnx"], ckpt_path)
    ok = [p for p in preds if p.error is None]
    bad = {Path(p.file).name: p.error for p in preds if p.error is not None}
    assert len(ok) == len(NETS) and set(bad) == {"broken.onnx", "nope.onnx"}
    assert "broken.onnx" in bad["broken.onnx"] and "no such file" in bad["nope.onnx"]
    assert [p.rank for p in ok] == list(range(1, len(NETS) + 1))
    scores = [p.score for p in ok]
    assert scores == sorted(scores, reverse=True)
    assert all(p.predicted_accuracy is None for p in ok)  # the tiny model knows no task by name
    by_name = {Path(p.file).stem: p for p in ok}
    # FLOPs follow the model's own input resolution (medium was exported at 48x48).
    medium = {s: from_module(_cnn(*NETS["medium"]), torch.randn(1, 3, s, s)).flops for s in (32, 48)}
    assert by_name["medium"].flops == pytest.approx(medium[48]) and medium[48] > 2 * medium[32]
    assert by_name["wide"].params > by_name["small"].params
    assert all(p.uncertainty is None for p in ok)  # a zero-shot score has no calibrated interval


def test_predict_cli_json_table_csv(ckpt_path, onnx_dir, capsys):
    rc = predict_cli.main([str(onnx_dir), "--checkpoint", str(ckpt_path), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1  # broken.onnx failed
    assert len(out) == len(NETS) + 1
    good = [o for o in out if "error" not in o]
    assert all(set(o) == {"file", "score", "predicted_accuracy", "rank", "flops", "params", "uncertainty", "labelled",
                          "given_accuracy"} for o in good)
    assert all(o["predicted_accuracy"] is None and not o["labelled"] for o in good)
    failed = [o for o in out if "error" in o]
    assert len(failed) == 1 and failed[0]["file"].endswith("broken.onnx") and failed[0]["rank"] is None
    rc = predict_cli.main([str(onnx_dir / "small.onnx"), str(onnx_dir / "deep.onnx"),
                           "--checkpoint", str(ckpt_path)])
    table = capsys.readouterr().out
    assert rc == 0 and "small.onnx" in table and "deep.onnx" in table and "pred. acc" in table
    assert table.rstrip().splitlines()[-1].startswith("predicted accuracy: blank") and "--labels" in table
    rc = predict_cli.main([str(onnx_dir / "small.onnx"), "--checkpoint", str(ckpt_path), "--format", "csv"])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0 and lines[0].startswith("rank,score,predicted_accuracy") and len(lines) == 2


def test_predict_cli_bad_checkpoint_is_one_clear_line(tmp_path, onnx_dir, capsys):
    (tmp_path / "x.ckpt").write_text("nope")
    assert predict_cli.main([str(onnx_dir / "small.onnx"), "--checkpoint", str(tmp_path / "x.ckpt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "x.ckpt" in err and "Traceback" not in err


def test_uncertainty_is_the_membership_weighted_head_spread(ckpt_path, onnx_dir):
    ckpt = load_checkpoint(ckpt_path)
    d = record_to_data(graph_to_record(from_onnx(onnx_dir / "deep.onnx")))
    res = predict(ckpt.net, [d], details=True)
    heads = torch.stack([ckpt.net.transform.inverse(torch.tensor(res["per_head"][:, k]), d.flops)
                         for k in range(3)], 1)
    u = torch.tensor(res["memberships"])
    spread = (u * (heads - torch.tensor(res["accuracy"])[:, None]) ** 2).sum(1).sqrt()
    assert res["uncertainty"] == pytest.approx(spread.numpy(), rel=1e-5)


def test_shipped_checkpoint_predicts(onnx_dir):
    """predict.py works right after setup: the default checkpoint ships with the package; it gives
    accuracies only on the scale of a task it was trained on."""
    assert DEFAULT_CHECKPOINT.is_file(), "gennape/checkpoints/default.ckpt is missing (see command.txt beside it)"
    ckpt = load_checkpoint(DEFAULT_CHECKPOINT)
    assert ckpt.model["heads"] > 1
    files = [onnx_dir / "small.onnx", onnx_dir / "deep.onnx"]
    preds = predict_files(files)
    assert all(p.error is None and p.score is not None and p.predicted_accuracy is None for p in preds)
    task = next(iter(checkpoint_tasks(ckpt)))
    on_task = predict_files(files, task=task)
    assert all(0 < p.predicted_accuracy < 100 for p in on_task)
    assert [p.file for p in on_task] == [p.file for p in preds]  # the same ranking
    with pytest.raises(TaskError, match="not trained on it"):
        predict_files(files, task="nb201/svhn")


def _labels(tmp_path, rows, header="file,accuracy"):
    path = tmp_path / "known.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_labels_adapt_the_checkpoint_and_put_every_file_on_their_scale(ckpt_path, onnx_dir, tmp_path, capsys):
    known = _labels(tmp_path, ["small.onnx,61.5", f"{onnx_dir / 'deep.onnx'},72.0", "wide.onnx,70.0"])
    saved = tmp_path / "adapted.ckpt"
    notes = []
    preds = predict_files([onnx_dir], ckpt_path, labels=known, save_checkpoint=saved, notes=notes)
    ok = {Path(p.file).name: p for p in preds if p.error is None}
    assert {n for n, p in ok.items() if p.labelled} == {"small.onnx", "deep.onnx", "wide.onnx"}
    assert ok["deep.onnx"].given_accuracy == 72.0 and ok["medium.onnx"].given_accuracy is None
    assert all(50 < p.predicted_accuracy < 85 for p in ok.values())  # the labels' scale
    assert notes[0] == f"adapted checkpoint saved to {saved}"
    assert notes[1].startswith("predicted accuracy: on custom's scale (3 labels, 61.50-72.00") and len(notes) == 2
    # the score is the accuracy's position among the labels, not the accuracy again
    assert all(p.score == pytest.approx((p.predicted_accuracy - 61.5) / 10.5, abs=1e-6) for p in ok.values())
    adapted = load_checkpoint(saved)
    assert adapted.meta["adapted"]["labels"] == 3 and adapted.net.labels == "raw"
    assert adapted.meta["interval"] is None and all(p.uncertainty is None for p in ok.values())  # 3 labels: none held out
    asked = []
    predict_files([onnx_dir], ckpt_path, labels=known, interval=True, notes=asked)
    assert any(n.startswith("--interval: 3 labels; an interval needs 20 or more") for n in asked)
    assert adapted.meta["adapted"]["task"] == "custom" and list(adapted.meta["tasks"]) == ["custom"]
    again = predict_files([onnx_dir], saved)  # the saved copy predicts accuracies on its own
    assert {Path(p.file).name: round(p.predicted_accuracy, 4) for p in again if p.error is None} == \
        {n: round(p.predicted_accuracy, 4) for n, p in ok.items()}
    rc = predict_cli.main([str(onnx_dir), "--checkpoint", str(ckpt_path), "--labels", str(known), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and sum(o["labelled"] for o in out) == 3  # broken.onnx still fails


@pytest.mark.parametrize("rows, header, problem", [
    (["small.onnx,61.5", "nothere.onnx,70"], "file,accuracy", "line 3: 'nothere.onnx' matches no input file"),
    (["small.onnx,61.5", "small.onnx,62"], "file,accuracy", "labelled twice"),
    (["small.onnx,abc", "deep.onnx,70"], "file,accuracy", "'abc' of 'small.onnx' is not a number"),
    (["small.onnx,nan", "deep.onnx,70"], "file,accuracy", "not a finite number"),
    (["small.onnx,61.5"], "file,acc", "expected the columns file,accuracy"),
    (["small.onnx,61.5"], "file,accuracy", "1 usable label(s)"),
    (["small.onnx,70", "deep.onnx,70"], "file,accuracy", "every label is 70.0"),
    (["broken.onnx,70", "deep.onnx,71"], "file,accuracy", "1 usable label(s)"),
])
def test_bad_labels_are_one_line_and_the_files_are_still_ranked(ckpt_path, onnx_dir, tmp_path, capsys, rows, header,
                                                                 problem):
    known = _labels(tmp_path, rows, header)
    rc = predict_cli.main([str(onnx_dir), "--checkpoint", str(ckpt_path), "--labels", str(known), "--format", "json"])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert rc == 1 and len([o for o in out if "error" not in o]) == len(NETS)  # all still ranked
    assert all(o["predicted_accuracy"] is None for o in out)  # no adaptation, no accuracy
    assert problem in captured.err and "Traceback" not in captured.err


def test_list_tasks_and_task_flag(ckpt_path, onnx_dir, capsys):
    assert predict_cli.main(["--list-tasks"]) == 0
    listed = capsys.readouterr().out.split("\n")[0].split("\t")[0]
    assert listed in checkpoint_tasks(load_checkpoint(DEFAULT_CHECKPOINT))
    assert predict_cli.main([str(onnx_dir / "small.onnx"), "--task", listed, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["predicted_accuracy"] is not None
    assert predict_cli.main([str(onnx_dir / "small.onnx"), "--checkpoint", str(ckpt_path), "--task", "nb101"]) == 2
    assert "not trained on it" in capsys.readouterr().err


def test_adapting_on_20_labels_calibrates_an_interval_on_the_held_out_fifth(ckpt_path):
    """With ``interval`` (``--interval``), from 20 labels on, a fifth never reaches fine-tuning and
    calibrates the printed interval, which the adapted checkpoint carries and its predictions use;
    without, every label is fitted and no interval is given."""
    from gennape.graph.encoding import encode_arrays
    from gennape.inference.adapt import adapt
    from gennape.inference.predict import load_predictor, predict_encoded
    from gennape.model.pipeline import FinetuneConfig
    from gennape.runtime.interval import Interval

    cgs = [from_module(_cnn(w, depth, k), torch.randn(1, 3, 32, 32)) for w in (4, 8, 12, 16, 24)
           for depth in (1, 2) for k in (3, 5)]
    graphs = [record_to_data(graph_to_record(cg)) for cg in cgs]
    acc = np.array([55.0 + 2 * i + (i % 3) for i in range(len(graphs))])
    cfg = FinetuneConfig(samples=0, epochs=3, seeds=1, batch_size=8, refit_transform=True, divide_by_flops=False,
                         early_stop_min=20, val_fraction=0.2, patience=5)
    tuned = adapt(load_checkpoint(ckpt_path), graphs, acc, cfg, trainer_kwargs={"max_epochs": 3}, interval=True)
    interval = Interval.from_meta(tuned.meta["interval"])
    assert interval.n == 4 and interval.level == 0.8 and interval.q > 0
    plain = adapt(load_checkpoint(ckpt_path), graphs, acc, cfg, trainer_kwargs={"max_epochs": 3})
    assert plain.meta["interval"] is None
    # every label fitted, early stopping held 4 out: they chose the size fit's weight beside the GNN
    from gennape.inference.adapt import BLEND_WEIGHTS, SIZE_COLUMNS
    from gennape.model.size import size_features
    from gennape.runtime.prior import Prior

    blend = Prior.from_meta(plain.meta["prior"])
    assert blend.gnn_weight in BLEND_WEIGHTS and blend.columns == SIZE_COLUMNS and blend.info["chosen_on"] == 4
    X = size_features(graphs)
    A = np.c_[X, np.ones(len(X))]
    fit = A @ np.linalg.lstsq(A, acc, rcond=None)[0]
    gnn = predict(plain.net, graphs, prior=False)
    expected = (1 - blend.gnn_weight) * fit + blend.gnn_weight * gnn
    got = predict_encoded(load_predictor(plain), [encode_arrays(cg) for cg in cgs], [cg.hash for cg in cgs])["score"]
    assert got == pytest.approx(expected, abs=1e-3)
    assert predict(plain.net, graphs) == pytest.approx(expected, abs=1e-3)  # the torch side blends it too
    res = predict_encoded(load_predictor(tuned), [encode_arrays(cg) for cg in cgs], [cg.hash for cg in cgs])
    spread = predict(tuned.net, graphs, details=True)["uncertainty"]
    assert res["uncertainty"] == pytest.approx(interval.half_width(spread), rel=1e-3, abs=1e-3)
