"""Featurise every architecture of a family, or a folder of ONNX files, into a SQLite store.

Usage (``key=value`` overrides of :class:`gennape.features.extract.ExtractConfig`)::

    python -m gennape.features family=nb201
    python -m gennape.features family=nb201 proxies=[synflow,nwot] limit=3000 workers=2 timeout_s=120
    python -m gennape.features family=nb101 features=[flops,params,synflow,nngp]
    python -m gennape.features family=nb301 executor=ray address=auto
    python -m gennape.features onnx=path/to/folder

Features are cached by graph hash in ``data/features/<family>.sqlite`` (``store=`` to change);
rerunning the same command (after a crash, a ``kill -9``, Ctrl-C) computes only what is left.
Default features: every zero-cost proxy, flops and params; NNGP (``nngp``, ``nngp_loss``) only
when asked for. ``python -m gennape.features --help`` lists the settings and the features.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Parse ``key=value`` arguments, run :func:`~gennape.features.extract.extract`, print a summary."""
    from omegaconf import OmegaConf

    from gennape.features.catalog import default_features, list_features
    from gennape.features.extract import ExtractConfig, extract

    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        print("settings:\n" + OmegaConf.to_yaml(OmegaConf.structured(ExtractConfig)))
        print(f"features: {', '.join(list_features())}\ndefault: {', '.join(default_features())}")
        return 0
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(ExtractConfig), OmegaConf.from_cli(argv))
        summary = extract(OmegaConf.to_object(cfg))
    except (KeyError, ValueError, FileNotFoundError) as err:  # a bad setting: say which, no traceback
        print(f"error: {str(err).strip(chr(34))}", file=sys.stderr)
        return 2
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
