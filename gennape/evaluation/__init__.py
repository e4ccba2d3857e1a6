"""Experiments and their reports: the ``train.py`` protocols, scoring, leave-one-family-out.

``experiment`` (the protocols ``train.py`` runs), ``evaluate`` (zero-shot and fine-tuned rows),
``lofo``, ``finetune_cache``, ``compare`` (runs side by side), ``report`` (docs/results.md) and
``runlog`` (a run's output into its log).
"""
