"""Inference: ELBOs, SVI, importance sampling, prediction and model inspection."""

from tracegraph.distributions.validation import enable_validation, is_validation_enabled

# As after ``import pyro.infer``: these modules are reachable as attributes
# (``pyro.infer.abstract_infer.Marginals``, ``pyro.infer.util.torch_item``).
from tracegraph.infer import abstract_infer as abstract_infer
from tracegraph.infer import autoguide as autoguide
from tracegraph.infer import util as util
from tracegraph.infer.elbo import ELBO
from tracegraph.infer.fit import FitResult, NonFiniteLossError, fit
from tracegraph.infer.importance import Importance
from tracegraph.infer.inspect import get_dependencies, render_model
from tracegraph.infer.predictive import MHResampler, Predictive, WeighedPredictive
from tracegraph.infer.renyi_elbo import RenyiELBO
from tracegraph.infer.svi import SVI
from tracegraph.infer.trace_elbo import JitTrace_ELBO, Trace_ELBO
from tracegraph.infer.trace_mean_field_elbo import JitTraceMeanField_ELBO, TraceMeanField_ELBO
from tracegraph.infer.trace_posterior import EmpiricalMarginal, TracePosterior
from tracegraph.infer.trace_predictive import TracePredictive
from tracegraph.infer.tracegraph_elbo import JitTraceGraph_ELBO, TraceGraph_ELBO, TrackNonReparam
from tracegraph.infer.vimco import VIMCO

__all__ = [
    "ELBO",
    "EmpiricalMarginal",
    "FitResult",
    "NonFiniteLossError",
    "Importance",
    "JitTraceGraph_ELBO",
    "JitTraceMeanField_ELBO",
    "JitTrace_ELBO",
    "MHResampler",
    "Predictive",
    "RenyiELBO",
    "SVI",
    "TraceGraph_ELBO",
    "TraceMeanField_ELBO",
    "TracePosterior",
    "TracePredictive",
    "Trace_ELBO",
    "TrackNonReparam",
    "VIMCO",
    "WeighedPredictive",
    "enable_validation",
    "fit",
    "get_dependencies",
    "is_validation_enabled",
    "render_model",
]
