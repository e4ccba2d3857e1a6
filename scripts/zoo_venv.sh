#!/usr/bin/env bash
# One-off venv for building the timm ImageNet zoo's graphs (scripts/build_zoo.py).
# timm needs torchvision, which does not import beside the project's CPU torch 2.13.0,
# so the zoo is built here, in .venv-zoo (gitignored); the runtime only reads the
# committed cache data/zoo/graphs.jsonl.gz with the project's normal venv.
set -euo pipefail
cd "$(dirname "$0")/.."
python3.11 -m venv .venv-zoo
. .venv-zoo/bin/activate
pip install -q torch==2.14.1 torchvision==0.29.1
pip install -q timm==1.0.29 numpy==2.4.6 networkx==3.6.1 onnx==1.23.2
pip install -q --no-deps -e .
python -c "import timm, torchvision, gennape.graph; print('zoo venv ok: timm', timm.__version__, 'torch', __import__('torch').__version__)"
