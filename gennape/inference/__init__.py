"""Scoring networks with a trained predictor: ONNX files in, a ranking out.

``predict`` (graphs, features, the numpy runtime, task scales), ``adapt`` (fine-tune a copy of the
checkpoint to a few labels), ``labels`` (the labels CSV), ``ranking_plot`` (``--plot``) and ``cli``
(``python predict.py``). Importing the package imports none of them.
"""
