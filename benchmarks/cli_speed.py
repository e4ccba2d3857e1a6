"""Wall time and peak memory of the ``predict.py`` command itself (interpreter start included).

1. ``python predict.py --help``: the imports alone.
2. ``python predict.py resnet50.onnx``: one ResNet-50 file (~100 MB), warm disk.
3. ``python predict.py FOLDER``: a folder of big ONNX files (copies of a ResNet-50 and a VGG-16,
   ``--folder-gb`` in all): peak RSS and wall, against building the same graphs alone
   (``from_onnx`` on every file in a bare interpreter).

Every command runs ``--repeats`` times under ``/usr/bin/time`` (median wall, largest peak RSS).

    python benchmarks/cli_speed.py [--folder-gb 8] [--work /tmp/cli_speed] [--out docs/cli_speed.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _vgg16():
    from torch import nn

    layers, c = [], 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
            c = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * 49, 4096), nn.ReLU(), nn.Linear(4096, 4096),
                         nn.ReLU(), nn.Linear(4096, 1000))


def export(models: Path) -> dict[str, Path]:
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from zoo import resnet50  # the reference networks of the tests

    models.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, make in (("resnet50", resnet50), ("vgg16", _vgg16)):
        path = models / f"{name}.onnx"
        if not path.is_file():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(make().eval(), (torch.randn(1, 3, 224, 224),), str(path), dynamo=False,
                                  opset_version=17)
        out[name] = path
    return out


def folder(src: dict[str, Path], where: Path, gb: float) -> Path:
    """Copies of the exported files (a VGG-16 for every four ResNet-50s) up to ``gb`` GiB."""
    where.mkdir(parents=True, exist_ok=True)
    total, i = sum(p.stat().st_size for p in where.glob("*.onnx")), len(list(where.glob("*.onnx")))
    while total < gb * 2**30:
        name = "vgg16" if i % 5 == 4 else "resnet50"
        dst = where / f"{i:03d}_{name}.onnx"
        shutil.copyfile(src[name], dst)
        total += dst.stat().st_size
        i += 1
    return where


def timed(cmd: list[str], repeats: int) -> dict:
    """Median wall seconds and largest peak RSS (MiB) of ``cmd``."""
    walls, rss = [], []
    for _ in range(repeats):
        with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
            subprocess.run(["/usr/bin/time", "-o", t.name, "-f", "%e %M", *cmd], check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall, kb = t.read().split()[-2:]
        walls.append(float(wall))
        rss.append(int(kb) / 1024)
    return {"wall_seconds": round(statistics.median(walls), 2), "walls": walls, "peak_rss_mb": round(max(rss))}


GRAPHS_ALONE = ("import sys\nfrom pathlib import Path\nfrom gennape.graph import from_onnx\n"
                "for p in sorted(Path(sys.argv[1]).rglob('*.onnx')):\n    from_onnx(p)\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder-gb", type=float, default=8.0)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "cli_speed")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "cli_speed.json")
    args = ap.parse_args()
    py, cli = sys.executable, str(ROOT / "predict.py")
    src = export(args.work / "models")
    big = folder(src, args.work / f"folder_{args.folder_gb:g}gb", args.folder_gb)
    files = sorted(big.glob("*.onnx"))
    res = {
        "import_help": timed([py, cli, "--help"], args.repeats),
        "resnet50_file": {"file_mb": round(src["resnet50"].stat().st_size / 2**20, 1),
                          **timed([py, cli, str(src["resnet50"])], args.repeats)},
        "folder": {"files": len(files), "gb": round(sum(p.stat().st_size for p in files) / 2**30, 2),
                   "largest_mb": round(max(p.stat().st_size for p in files) / 2**20, 1),
                   "predict": timed([py, cli, str(big)], args.repeats),
                   "graphs_alone": timed([py, "-c", GRAPHS_ALONE, str(big)], args.repeats)},
    }
    f = res["folder"]
    f["wall_ratio_to_graphs_alone"] = round(f["predict"]["wall_seconds"] / f["graphs_alone"]["wall_seconds"], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
