"""Scoring networks with a trained predictor: ONNX files in, a ranking out.

``predict`` (graphs, features, the numpy runtime, task scales), ``adapt`` (fine-tune a copy of the
checkpoint to a few labels), ``labels`` (the labels CSV), ``tasks`` (the tasks a checkpoint
speaks for; the one an adapted checkpoint was fitted to), ``ranking_plot`` (``--plot``) and ``cli``
(``python predict.py``). Importing the package imports none of them.
"""
