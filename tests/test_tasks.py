"""Tasks: (family, dataset) pairs with their label, resolution and classes, and their graphs."""

from __future__ import annotations

import pytest

from gennape.data.loaders import list_families, resolve_task
from gennape.core.paths import mirror_root
from gennape.data.tasks import Task, default_task, get_task, list_tasks, register_task
from gennape.data.families import graph_of, graph_variant

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
needs_mirror = pytest.mark.skipif(mirror_root() is None, reason="no data mirror (../shared/data) on this machine")


def test_every_family_has_a_default_task_and_every_task_a_family() -> None:
    for family in list_families():
        assert default_task(family).family == family
    for name in list_tasks():
        assert name.split("/")[0] in list_families(), name
    assert default_task("nb201").name == "nb201/cifar10"
    assert list_tasks("nb201") == ["nb201/cifar10", "nb201/cifar100", "nb201/imagenet16"]


def test_task_lookup_and_errors() -> None:
    assert get_task("nb201/imagenet16").input_shape == (3, 16, 16)
    assert get_task("nb201").name == "nb201/cifar10"
    assert resolve_task("transnas_micro", "class_scene").num_classes == 63
    with pytest.raises(KeyError, match="no task 'imagenet16'.*transnas_macro/class_object"):
        resolve_task("transnas_macro", "imagenet16")
    with pytest.raises(ValueError, match="already registered"):
        register_task(Task("nb201", "cifar10", "other", (3, 32, 32), 10))


def test_graph_variants_name_what_differs() -> None:
    assert graph_variant("nb201") == graph_variant("nb201", "cifar10") == "nb201"
    assert graph_variant("nb201", "cifar100") == "nb201@3x32x32-100cls"
    assert graph_variant("nb201", "imagenet16") == "nb201@3x16x16-120cls"


@needs_mirror
def test_a_task_builds_its_own_network() -> None:
    c10, c100, im16 = (graph_of("nb201", CELL, t) for t in ("cifar10", "cifar100", "imagenet16"))
    assert c10.hash == graph_of("nb201", CELL).hash
    assert len({c10.hash, c100.hash, im16.hash}) == 3
    assert c10.output_shapes == [(10,)] and c100.output_shapes == [(100,)] and im16.output_shapes == [(120,)]
    assert im16.input_shape == (3, 16, 16)
    # Same cell: FLOPs scale with the pixels (the head aside), params only by the head.
    assert im16.flops == pytest.approx(c10.flops / 4, rel=0.01)
    assert c100.params - c10.params == 90 * 65
    with pytest.raises(RuntimeError, match="nb201: could not build the graph of 'nope'"):
        graph_of("nb201", "nope")


@needs_mirror
def test_features_of_a_task_use_its_networks_and_resolution(tmp_path) -> None:
    import json
    import sqlite3

    from gennape.features.extract import ExtractConfig, extract

    cfg = ExtractConfig(family="nb201", task="imagenet16", limit=3, features=["flops", "nwot"], workers=1,
                        store=str(tmp_path / "s.sqlite"), progress=False, executor="local")
    summary = extract(cfg)
    assert summary.archs == 3 and summary.rows == 2 * summary.graphs
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        settings = json.loads(db.execute("SELECT value FROM meta WHERE name = 'settings'").fetchone()[0])
        flops = [v for (v,) in db.execute("SELECT value FROM features WHERE feature = 'flops'")]
    assert settings["image_size"] == 16
    # 16 x 16 networks: a quarter of the CIFAR-10 networks' FLOPs at most (NB-201 tops at 0.45 G there).
    assert max(flops) < 0.12e9
