"""One table of every labelled architecture of the corpus, for the transfer study: its task, its
published accuracy, its stored zero-cost proxies and NNGP, and its :mod:`graph statistics
<gennape.graph.stats>`. Built from the graph caches and feature stores in a minute.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from gennape.graph.stats import GRAPH_STATS, graph_stats

# The features predict.py can compute for any file (gennape.features.settings), beside size.
PROXIES = ("synflow", "nwot", "jacov", "snip", "grad_norm", "zen", "nngp")
# Stored for some families only: single-feature baselines, never model inputs.
BASELINE_PROXIES = ("l2_norm", "fisher", "grasp", "epe_nas", "plain")


def task_frame(key: str, proxies: Sequence[str] = PROXIES + BASELINE_PROXIES) -> pd.DataFrame:
    """Task ``key``'s architectures: ``task``, ``family``, ``hash``, ``y``, each proxy (NaN where
    missing) and each graph statistic."""
    from gennape.runtime.auxiliary import attach_features
    from gennape.model.corpus import family_of, load_task

    fam = load_task(key)
    raw = attach_features(fam.graphs, fam.variant, list(proxies), "train", require_store=False)
    stats = np.stack([graph_stats(d.op.numpy(), d.feat.numpy(), d.edge_index.numpy(), float(d.flops), float(d.params))
                      for d in fam.graphs])
    frame = pd.DataFrame({"task": key, "family": family_of(key), "hash": [d.hash for d in fam.graphs], "y": fam.y})
    frame[list(proxies)] = raw
    frame[list(GRAPH_STATS)] = stats
    return frame


def corpus_frame(keys: Sequence[str]) -> pd.DataFrame:
    """:func:`task_frame` of every task of ``keys`` (``family/*`` expands), stacked."""
    from gennape.model.corpus import expand_keys

    return pd.concat([task_frame(k) for k in expand_keys(keys)], ignore_index=True)
