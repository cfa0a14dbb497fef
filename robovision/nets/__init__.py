"""Networks: MLPs, fused critic ensembles, encoders and action distributions."""

from robovision.nets.encoders import Encoder, make_encoder
from robovision.nets.mlp import EnsembleLinear, EnsembleMLP, mlp

__all__ = ["Encoder", "EnsembleLinear", "EnsembleMLP", "make_encoder", "mlp"]
