#!/usr/bin/env bash
# One-command setup: a virtual environment with pinned versions (CPU torch 2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
. .venv/bin/activate
pip install -q -c constraints.txt torch==2.13.0
pip install -q -c constraints.txt -e ".[dev]"
