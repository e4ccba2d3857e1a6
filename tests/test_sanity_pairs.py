"""Zero-shot sanity: the shipped checkpoint orders networks as any practitioner would on
CIFAR-10, each ONNX file scored alone; and a file's score does not depend on the other files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx")
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from networks import NoPath, export, mlp, plain_cnn, resnet  # noqa: E402

from gennape.inference.predict import predict_files, predict_graphs  # noqa: E402

# (worse, better): what each reaches on CIFAR-10 is not in doubt.
PAIRS = {
    "mlp < small cnn": ("mlp", "cnn6_w16"),
    "3-layer plain cnn < resnet-18-like": ("plain_cnn", "resnet18_like"),
    "width x1 < width x4 at equal depth": ("cnn6_w16", "cnn6_w64"),
    "no path from input to output < small cnn": ("no_path", "cnn6_w16"),
}
BUILDERS = {
    "mlp": mlp,
    "plain_cnn": plain_cnn,
    "cnn6_w16": lambda: plain_cnn(16, depth=6),
    "cnn6_w64": lambda: plain_cnn(64, depth=6),
    "resnet18_like": lambda: resnet((2, 2, 2, 2), width=32),
    "no_path": NoPath,
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("sanity")
    paths = {}
    for name, build in BUILDERS.items():
        torch.manual_seed(0)
        paths[name] = Path(export(build(), str(out / f"{name}.onnx")))
    return paths


@pytest.fixture(scope="module")
def alone(files: dict[str, Path]) -> dict[str, float]:
    """Each file's score with the shipped checkpoint, scored alone."""
    scores = {}
    for name, path in files.items():
        (p,) = predict_files([path])
        assert p.error is None, p.error
        scores[name] = float(p.score)
    return scores


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_shipped_checkpoint_orders_the_pair(pair: str, alone: dict[str, float]) -> None:
    worse, better = PAIRS[pair]
    assert alone[worse] < alone[better], f"{pair}: {worse} {alone[worse]:.3f} vs {better} {alone[better]:.3f}"


def test_a_file_scores_the_same_alone_and_among_others(files: dict[str, Path], alone: dict[str, float]) -> None:
    together = {Path(p.file).stem: p.score for p in predict_files(list(files.values()))}
    assert {k: round(v, 3) for k, v in together.items()} == {k: round(v, 3) for k, v in alone.items()}


def test_a_graph_scores_the_same_alone_and_among_50(files: dict[str, Path]) -> None:
    from gennape.inference.predict import load_graph
    from gennape.spaces import get_space

    space = get_space("nb201")
    others = [space.graph(s) for s in space.sample(50, seed=0)]
    one = load_graph(files["resnet18_like"])
    alone = predict_graphs(None, [one], features=False)["score"][0]
    among = predict_graphs(None, [*others[:25], one, *others[25:]], features=False)["score"][25]
    assert round(float(alone), 3) == round(float(among), 3)


def test_the_cli_prints_one_score_per_file(files: dict[str, Path]) -> None:
    def score_of(args: list[str]) -> str:
        out = subprocess.run([sys.executable, str(ROOT / "predict.py"), *args, "--format", "csv"],
                             capture_output=True, text=True, check=True, cwd=ROOT).stdout
        row = next(line for line in out.splitlines() if line.endswith("mlp.onnx") or "mlp.onnx," in line)
        return f"{float(row.split(',')[1]):.4f}"  # batched BLAS differs in the 7th digit

    assert score_of([str(files["mlp"])]) == score_of([str(files["mlp"]), str(files["cnn6_w64"])])


def test_the_shipped_examples_rank_the_known_best_above_the_known_worst() -> None:
    """``python predict.py examples/cifar10``, the README's first command: ResNet-20 above the MLP."""
    preds = {Path(p.file).stem: p for p in predict_files([ROOT / "examples" / "cifar10"])}
    assert set(preds) == {"mlp", "plain_cnn", "resnet20", "mobilenet_v2_small"}
    assert all(p.error is None for p in preds.values())
    assert preds["resnet20"].rank < preds["plain_cnn"].rank < preds["mlp"].rank
