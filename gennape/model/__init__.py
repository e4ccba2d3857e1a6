"""The GENNAPE predictor: graph encoder, contrastive pretraining, fuzzy heads, target transform."""

from gennape.model.contrastive import laplacian_spectrum, soft_nt_xent
from gennape.model.encoder import GraphEncoder, get_layer, list_layers, register_layer
from gennape.model.fcm import FuzzyCMeans, cmeans
from gennape.model.heads import FuzzyHeads, MLPHead
from gennape.model.predictor import ContrastiveModule, GennapeNet, RegressionModule, build_net
from gennape.model.transform import TargetTransform

__all__ = ["GraphEncoder", "register_layer", "get_layer", "list_layers", "laplacian_spectrum",
           "soft_nt_xent", "FuzzyCMeans", "cmeans", "FuzzyHeads", "MLPHead", "TargetTransform",
           "GennapeNet", "build_net", "ContrastiveModule", "RegressionModule"]
