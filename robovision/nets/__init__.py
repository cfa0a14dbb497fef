"""Networks: MLPs, fused critic ensembles, encoders and action distributions."""

from robovision.runtime import order_triton_and_gl

order_triton_and_gl()  # torch is loading: triton before any GL backend, or kept out

from robovision.nets.encoders import Encoder, make_encoder  # noqa: E402
from robovision.nets.mlp import EnsembleLinear, EnsembleMLP, mlp  # noqa: E402

__all__ = ["Encoder", "EnsembleLinear", "EnsembleMLP", "make_encoder", "mlp"]
