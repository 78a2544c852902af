"""Effect handlers (Pyro's ``pyro.poutine``): composable interpreters of models.

Vocabulary, used the same way everywhere in tracegraph:

* a *site* is one call of an effectful primitive (``sample``, ``param``, ...) in
  one run, named by the user;
* a *message* is the dict (:class:`~tracegraph.poutine.runtime.Message`) that
  describes a site while handlers act on it; a trace keeps each message as a node;
* a *handler* (a :class:`Messenger`) changes what sites do; the *inner* handler is
  the one entered last (closest to the model), the *outer* handler the one
  entered first.  A message visits handlers inner to outer (*process*), then the
  default action runs, then they post-process it outer to inner
  (:func:`apply_stack`);
* *provenance* is the set of sites a tensor was computed from;
* a *non-reparameterized site* is a latent sample site whose value has no
  gradient path to its distribution's parameters (it needs the score-function
  estimator);
* the *downstream cost* of a site is the part of the ELBO's cost that depends on
  it; the *surrogate loss* is the objective whose gradient is the ELBO's gradient
  estimate.

The handler stack lives in a :class:`contextvars.ContextVar`, so every thread
and every asyncio task has its own, and it is restored on exit even when the
model raises.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model(x):
...     s = tracegraph.param("s", torch.tensor(0.5))
...     return tracegraph.sample("z", dist.Normal(x, s))
>>> tracegraph.clear_param_store()
>>> tr = poutine.trace(model).get_trace(0.0)
>>> list(tr.nodes), isinstance(tr, poutine.Trace)
(['_INPUT', 's', 'z', '_RETURN'], True)
"""

from tracegraph.poutine import util
from tracegraph.poutine.block_messenger import BlockMessenger
from tracegraph.poutine.broadcast_messenger import BroadcastMessenger
from tracegraph.poutine.condition_messenger import ConditionMessenger
from tracegraph.poutine.do_messenger import DoMessenger
from tracegraph.poutine.equalize_messenger import EqualizeMessenger
from tracegraph.poutine.escape_messenger import EscapeMessenger
from tracegraph.poutine.handlers import (
    block,
    broadcast,
    condition,
    do,
    equalize,
    escape,
    infer_config,
    lift,
    markov,
    mask,
    queue,
    replay,
    scale,
    seed,
    substitute,
    trace,
    uncondition,
)
from tracegraph.poutine.infer_config_messenger import InferConfigMessenger
from tracegraph.poutine.lift_messenger import LiftMessenger
from tracegraph.poutine.markov_messenger import MarkovMessenger
from tracegraph.poutine.mask_messenger import MaskMessenger
from tracegraph.poutine.messenger import HandledFunction, Messenger, block_messengers, unwrap
from tracegraph.poutine.plate_messenger import PlateMessenger, block_plate
from tracegraph.poutine.replay_messenger import ReplayMessenger
from tracegraph.poutine.runtime import (
    CondIndepStackFrame,
    Message,
    NonlocalExit,
    am_i_wrapped,
    apply_stack,
    effectful,
    get_handler_stack,
    get_mask,
    get_plates,
)
from tracegraph.poutine.scale_messenger import ScaleMessenger
from tracegraph.poutine.seed_messenger import SeedMessenger
from tracegraph.poutine.subsample_messenger import SubsampleMessenger
from tracegraph.poutine.substitute_messenger import SubstituteMessenger
from tracegraph.poutine.trace_messenger import TraceHandler, TraceMessenger
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.uncondition_messenger import UnconditionMessenger
from tracegraph.poutine.validation import enable_validation, is_validation_enabled

__all__ = [
    "BlockMessenger",
    "BroadcastMessenger",
    "CondIndepStackFrame",
    "ConditionMessenger",
    "DoMessenger",
    "EqualizeMessenger",
    "EscapeMessenger",
    "HandledFunction",
    "InferConfigMessenger",
    "LiftMessenger",
    "MarkovMessenger",
    "MaskMessenger",
    "Message",
    "Messenger",
    "NonlocalExit",
    "PlateMessenger",
    "ReplayMessenger",
    "ScaleMessenger",
    "SeedMessenger",
    "SubsampleMessenger",
    "SubstituteMessenger",
    "Trace",
    "TraceHandler",
    "TraceMessenger",
    "UnconditionMessenger",
    "am_i_wrapped",
    "apply_stack",
    "block",
    "block_messengers",
    "block_plate",
    "broadcast",
    "condition",
    "do",
    "effectful",
    "enable_validation",
    "equalize",
    "escape",
    "get_handler_stack",
    "get_mask",
    "get_plates",
    "infer_config",
    "is_validation_enabled",
    "lift",
    "markov",
    "mask",
    "queue",
    "replay",
    "scale",
    "seed",
    "substitute",
    "trace",
    "uncondition",
    "unwrap",
    "util",
]
