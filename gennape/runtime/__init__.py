"""The predictor without torch: the checkpoint file, the numpy network, the head inputs.

``net`` runs a checkpoint's network in numpy; ``checkpoint_file`` reads and writes the file;
``vocab`` matches embedding rows to ops by name; ``auxiliary`` builds the heads' feature inputs;
``scales`` maps a score to a task's accuracy scale. What ``predict.py`` imports on its way to a
ranking is here and in ``gennape.graph`` (``tests/test_model_runtime.py`` checks it loads no torch).
"""
