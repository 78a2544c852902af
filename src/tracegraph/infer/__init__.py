"""Inference: ELBOs, SVI, importance sampling, prediction and model inspection."""

from tracegraph.infer.elbo import ELBO
from tracegraph.infer.fit import FitResult, NonFiniteLossError, fit
from tracegraph.infer.importance import EmpiricalMarginal, Importance
from tracegraph.infer.inspect import get_dependencies, render_model
from tracegraph.infer.predictive import Predictive
from tracegraph.infer.svi import SVI
from tracegraph.infer.trace_elbo import JitTrace_ELBO, Trace_ELBO
from tracegraph.infer.trace_mean_field_elbo import JitTraceMeanField_ELBO, TraceMeanField_ELBO
from tracegraph.infer.tracegraph_elbo import JitTraceGraph_ELBO, TraceGraph_ELBO, TrackNonReparam

__all__ = [
    "ELBO",
    "EmpiricalMarginal",
    "FitResult",
    "NonFiniteLossError",
    "Importance",
    "Predictive",
    "JitTraceGraph_ELBO",
    "JitTraceMeanField_ELBO",
    "JitTrace_ELBO",
    "SVI",
    "TraceGraph_ELBO",
    "TraceMeanField_ELBO",
    "Trace_ELBO",
    "TrackNonReparam",
    "fit",
    "get_dependencies",
    "render_model",
]
