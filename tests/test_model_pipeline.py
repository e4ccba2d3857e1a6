import numpy as np
import pytest
import torch

from gennape.graph.ops import list_ops
from gennape.model import pipeline as P
from gennape.model.metrics import srcc
from gennape.model.predictor import build_net
from gennape.model.synthetic import synthetic_graphs

# Tiny graphs: one thread avoids OpenMP stalls on a loaded machine (25x here).
torch.set_num_threads(1)

QUIET = {"enable_progress_bar": False, "accelerator": "cpu"}


def test_gennape_fits_synthetic_graphs_and_freezes_centroids():
    graphs = synthetic_graphs(160, seed=0)
    train, val, test = graphs[:100], graphs[100:130], graphs[130:]
    net = build_net(hidden=32, num_layers=2, heads=3, seed=0)
    info = P.fit(net, train, val, P.PretrainConfig(epochs=2, batch_size=50),
                 P.RegressConfig(epochs=25, batch_size=25, patience=25), QUIET)
    assert info["pretrain_epochs"] == 2 and info["regress_epochs"] >= 1
    centroids = net.fcm.centroids.clone()
    seen = {list_ops()[i] for i in torch.cat([g.op for g in train]).tolist()}
    assert info["filled_ops"] and not seen & set(info["filled_ops"])  # only ops absent from training
    y = np.array([g.y.item() for g in test])
    res = P.predict(net, test, details=True)
    assert srcc(y, res["accuracy"]) > 0.7
    assert res["memberships"].shape == (30, 3)
    np.testing.assert_allclose(res["memberships"].sum(1), 1.0, rtol=1e-5)
    tuned = P.fine_tune(net, test[:10], P.FinetuneConfig(samples=10, epochs=3, seeds=1), QUIET)
    assert torch.equal(tuned.fcm.centroids, centroids)  # frozen through fine-tuning
    assert torch.equal(net.fcm.centroids, centroids)
    assert any(not torch.equal(a, b) for a, b in zip(tuned.heads.parameters(), net.heads.parameters()))


def test_baseline_has_single_head_and_no_flops_transform():
    graphs = synthetic_graphs(60, seed=2)
    net = build_net(hidden=16, num_layers=1, heads=1, divide_by_flops=False, seed=0)
    init = net.encoder.op_embed.weight.detach().clone()
    info = P.fit(net, graphs[:40], graphs[40:], P.PretrainConfig(enabled=False),
                 P.RegressConfig(epochs=3, batch_size=20), QUIET, fill_unseen=False)
    concat = list_ops().index("Concat")  # synthetic graphs have none: left at its initial row
    assert info["filled_ops"] == []  # only weight decay touches a row that no graph uses
    torch.testing.assert_close(net.encoder.op_embed.weight[concat].detach(), init[concat], atol=1e-4, rtol=0)
    pred = P.predict(net, graphs[40:])
    assert pred.shape == (20,) and np.isfinite(pred).all()
    assert abs(float(pred.mean()) - float(np.mean([g.y.item() for g in graphs]))) < 15


class Killed(Exception):
    """Stands in for a kill: raised from inside a Lightning epoch."""


def test_fit_resumes_a_killed_run_without_redoing_finished_stages(tmp_path, monkeypatch):
    graphs = synthetic_graphs(80, seed=3)
    pre, reg = P.PretrainConfig(epochs=2, batch_size=40), P.RegressConfig(epochs=6, batch_size=20, patience=50)
    original = P.EpochTimer.on_train_epoch_end

    def dies_in_regression_epoch_3(self, trainer, module):
        original(self, trainer, module)
        if isinstance(module, P.RegressionModule) and trainer.current_epoch == 2:
            raise Killed()

    monkeypatch.setattr(P.EpochTimer, "on_train_epoch_end", dies_in_regression_epoch_3)
    net = build_net(hidden=16, num_layers=1, heads=2, seed=0)
    try:
        P.fit(net, graphs[:60], graphs[60:], pre, reg, QUIET, root_dir=tmp_path, seed=0)
    except Killed:
        pass
    else:
        raise AssertionError("the injected kill did not happen")
    monkeypatch.setattr(P.EpochTimer, "on_train_epoch_end", original)
    assert (tmp_path / "stages" / "pretrain.pt").is_file() and not (tmp_path / "stages" / "regress.pt").exists()
    assert (tmp_path / "regress" / "last.ckpt").is_file()
    stamp = (tmp_path / "stages" / "pretrain.pt").stat().st_mtime_ns

    resumed = build_net(hidden=16, num_layers=1, heads=2, seed=0)
    info = P.fit(resumed, graphs[:60], graphs[60:], pre, reg, QUIET, root_dir=tmp_path, seed=0, resume=True)
    assert (tmp_path / "stages" / "pretrain.pt").stat().st_mtime_ns == stamp  # pretraining not redone
    # The kill came in epoch 3's end hooks before its checkpoint was kept: epochs 3-6 run again,
    # not 1-6.
    assert info["pretrain_epochs"] == 2 and info["regress_epochs"] == 4
    assert (tmp_path / "stages" / "regress.pt").is_file()

    # A finished run resumes to the same network without training.
    again = build_net(hidden=16, num_layers=1, heads=2, seed=5)
    P.fit(again, graphs[:60], graphs[60:], pre, reg, QUIET, root_dir=tmp_path, seed=0, resume=True)
    for a, b in zip(again.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_fine_tuning_can_drop_the_flops_division_for_the_new_family(tmp_path):
    from gennape.model.checkpoint import load_checkpoint, save_checkpoint

    graphs = synthetic_graphs(60, seed=4)
    net = build_net(hidden=16, num_layers=1, heads=2, divide_by_flops=True, seed=0)
    P.fit(net, graphs[:40], None, P.PretrainConfig(enabled=False), P.RegressConfig(epochs=2, batch_size=20), QUIET)
    cfg = P.FinetuneConfig(samples=20, epochs=2, seeds=1, divide_by_flops=False)
    tuned = P.fine_tune(net, graphs[40:], cfg, QUIET)
    assert net.transform.divide_by_flops and not tuned.transform.divide_by_flops
    y = torch.cat([g.y for g in graphs[40:]])
    assert float(tuned.transform.mean) == pytest.approx(float(y.mean()), rel=1e-5)  # refitted on raw accuracy
    save_checkpoint(tmp_path / "t.ckpt", tuned, {"hidden": 16, "num_layers": 1, "heads": 2, "divide_by_flops": True})
    loaded = load_checkpoint(tmp_path / "t.ckpt").net
    np.testing.assert_allclose(P.predict(loaded, graphs[40:]), P.predict(tuned, graphs[40:]), rtol=1e-5)
    with pytest.raises(ValueError, match="refit_transform"):
        P.fine_tune(net, graphs[40:], P.FinetuneConfig(divide_by_flops=False, refit_transform=False), QUIET)


def test_pairwise_rank_loss_prefers_the_true_order_and_is_scale_free():
    from gennape.model.predictor import pairwise_rank_loss

    true = torch.tensor([90.0, 91.0, 93.0, 94.0])
    right, wrong = pairwise_rank_loss(true, true), pairwise_rank_loss(true.flip(0), true)
    assert right < torch.log(torch.tensor(2.0)) < wrong  # log 2: every pair tied
    assert torch.isclose(pairwise_rank_loss(true * 10, true * 10), right)  # units do not matter
    flat = torch.tensor([1.0, 2.0], requires_grad=True)
    zero = pairwise_rank_loss(flat, torch.tensor([5.0, 5.0]))  # no ordered pair: no signal
    zero.backward()
    assert zero.item() == 0.0 and flat.grad.abs().sum() == 0


def test_fine_tuning_with_the_rank_loss_learns_the_order():
    graphs = synthetic_graphs(60, seed=0)
    net = build_net(hidden=16, num_layers=2, heads=2, head_hidden=16)
    P.fit_normalisers(net, graphs)
    P.fit_clusters(net, graphs)
    y = np.array([g.y.item() for g in graphs[:40]])
    before = srcc(y, P.predict(net, graphs[:40]))
    cfg = P.FinetuneConfig(samples=40, epochs=30, batch_size=20, rank_weight=1.0, divide_by_flops=False)
    tuned = P.fine_tune(net, graphs[:40], cfg, QUIET)
    assert srcc(y, P.predict(tuned, graphs[:40])) > max(0.5, before)
