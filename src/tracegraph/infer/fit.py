"""Run SVI for a number of steps: a progress bar, the loss history, a clean stop.

:func:`fit` calls :meth:`SVI.step <tracegraph.infer.svi.SVI.step>` ``num_steps``
times and keeps every loss.  It adds what a training loop written by hand
usually lacks:

* a progress bar (tqdm) showing the step and the current ELBO;
* Ctrl-C stops training cleanly: the params keep their values and the history
  so far comes back with ``interrupted=True``;
* a NaN or infinite loss stops training *before* the optimizer applies the
  step, with a :class:`NonFiniteLossError` that names the step and the sites
  whose log-prob was non-finite (found by running model and guide again from
  the random state of that step).

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph.infer import SVI, Trace_ELBO
>>> from tracegraph.optim import Adam
>>> def model():
...     tracegraph.sample("z", dist.Normal(1.0, 1.0))
>>> def guide():
...     loc = tracegraph.param("loc", torch.tensor(0.0))
...     tracegraph.sample("z", dist.Normal(loc, 1.0))
>>> svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
>>> result = fit(svi, 200, progress=False)
>>> len(result.losses), result.interrupted
(200, False)
>>> abs(tracegraph.param("loc").item() - 1.0) < 0.2
True
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm import tqdm

from tracegraph.distributions.util import validation_enabled
from tracegraph.errors import TracegraphError
from tracegraph.infer.distributed.group import is_main_process
from tracegraph.infer.svi import SVI
from tracegraph.params import get_param_store
from tracegraph.poutine import handlers
from tracegraph.poutine.trace_struct import Trace

__all__ = ["FitResult", "NonFiniteLossError", "fit"]


@dataclass
class FitResult:
    """What :func:`fit` did.

    :param losses: the loss (negative ELBO) of every completed step, in order.
    :param interrupted: whether Ctrl-C stopped training early.
    :param seconds: wall-clock time spent in the steps.

    >>> r = FitResult([3.0, 2.0])
    >>> r.num_steps, r.elbos, r.final_loss
    (2, [-3.0, -2.0], 2.0)
    """

    losses: list[float] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def num_steps(self) -> int:
        """The number of completed steps."""
        return len(self.losses)

    @property
    def elbos(self) -> list[float]:
        """The ELBO estimate of every completed step (``-loss``)."""
        return [-loss for loss in self.losses]

    @property
    def final_loss(self) -> float:
        """The last step's loss (``nan`` when no step completed)."""
        return self.losses[-1] if self.losses else math.nan


class NonFiniteLossError(TracegraphError, ValueError):
    """The loss became NaN or infinite during :func:`fit`.

    Attributes: ``step`` (the 0-based index of the failing step, which equals the
    number of completed steps), ``loss`` (the non-finite value), ``sites`` (names
    such as ``"model site 'x'"`` whose log-prob was non-finite in the re-run),
    ``params`` (params whose value is non-finite) and ``result`` (the
    :class:`FitResult` of the completed steps).  The params keep the values they
    had before the failing step.

    >>> issubclass(NonFiniteLossError, ValueError)
    True
    """

    def __init__(
        self,
        message: str,
        step: int,
        loss: float,
        sites: list[str],
        params: list[str],
        result: FitResult,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.loss = loss
        self.sites = sites
        self.params = params
        self.result = result


class _NonFiniteLoss(Exception):
    """Raised inside a step, before the optimizer runs, to stop it."""

    def __init__(self, loss: float) -> None:
        super().__init__(loss)
        self.loss = loss


def _non_finite_sites(trace: Trace, role: str) -> list[str]:
    found = []
    for name, site in trace.nodes.items():
        if site["type"] != "sample":
            continue
        try:
            log_prob = site["fn"].log_prob(site["value"], *site["args"], **site["kwargs"])
            finite = bool(torch.isfinite(torch.as_tensor(log_prob)).all())
        except Exception:  # noqa: BLE001 - a log-prob that cannot be computed is broken too
            finite = False
        if not finite:
            found.append(f"{role} site '{name}'")
    return found


def _diagnose(svi: SVI, rng_state: torch.Tensor, args: Any, kwargs: Any) -> list[str]:
    """Run guide and model again from ``rng_state`` and list the sites whose
    log-prob is not finite (one run per particle of the loss, if it says how many)."""
    elbo = getattr(svi.loss_and_grads, "__self__", None)
    particles = int(getattr(elbo, "num_particles", 1) or 1)
    if getattr(elbo, "vectorize_particles", False):
        # One vectorized run draws differently from K plain runs; a plain run
        # still finds sites that are broken for every draw.
        particles = 1
    found: list[str] = []
    with torch.random.fork_rng(), torch.no_grad(), validation_enabled(False):
        torch.set_rng_state(rng_state)
        for _ in range(particles):
            try:
                guide_trace = handlers.trace(svi.guide).get_trace(*args, **kwargs)
                model_trace = handlers.trace(
                    handlers.replay(svi.model, trace=guide_trace)
                ).get_trace(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - reported, not hidden
                found.append(f"(the re-run raised {type(exc).__name__}: {exc})")
                break
            for item in _non_finite_sites(guide_trace, "guide") + _non_finite_sites(
                model_trace, "model"
            ):
                if item not in found:
                    found.append(item)
    return found


def _non_finite_params() -> list[str]:
    store = get_param_store()
    return [name for name, value in store.items() if not bool(torch.isfinite(value).all())]


def _clear_grads() -> None:
    # A step cut short leaves gradients that the next step would add to.
    for _, p in get_param_store().named_parameters():
        p.grad = None


def fit(
    svi: SVI,
    num_steps: int,
    *args: Any,
    progress: bool = True,
    desc: str | None = None,
    **kwargs: Any,
) -> FitResult:
    """Take ``num_steps`` SVI steps, keeping the loss history.

    Ctrl-C (``KeyboardInterrupt``) stops training and returns the history so
    far with ``interrupted=True``; the params keep their values (a step cut
    short may have updated some params and not others).  A non-finite loss
    raises :class:`NonFiniteLossError` before that step's update is applied.

    :param svi: the :class:`~tracegraph.infer.svi.SVI` object to step.
    :param num_steps: how many steps to take.
    :param args: positional arguments for model and guide.
    :param progress: show a progress bar with the step and the ELBO (on stderr);
        in a ``torch.distributed`` job only rank 0 shows it.
    :param desc: the progress bar's label.
    :param kwargs: keyword arguments for model and guide (``progress`` and
        ``desc`` are taken by ``fit`` itself).
    :returns: a :class:`FitResult`.
    :raises TypeError: if ``svi`` is not an SVI or ``num_steps`` is not an int.
    :raises ValueError: if ``num_steps`` is negative.
    :raises NonFiniteLossError: if a step's loss is NaN or infinite.

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph.infer import SVI, Trace_ELBO
    >>> from tracegraph.optim import Adam
    >>> def model(data):
    ...     with tracegraph.plate("data", len(data)):
    ...         tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=data)
    >>> def guide(data):
    ...     pass
    >>> svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
    >>> fit(svi, 3, torch.zeros(2), progress=False).num_steps
    3
    """
    if not isinstance(svi, SVI):
        raise TypeError(
            f"fit needs a tracegraph.infer.SVI object, got {type(svi).__name__}; "
            "hint: fit(SVI(model, guide, optim, loss), num_steps, *model_args)"
        )
    if isinstance(num_steps, bool) or not isinstance(num_steps, int):
        raise TypeError(
            f"fit: num_steps must be an int, got {type(num_steps).__name__}; "
            "hint: fit(svi, num_steps, *model_args)"
        )
    if num_steps < 0:
        raise ValueError(f"fit: num_steps must be >= 0, got {num_steps}")

    # A copy whose loss_and_grads stops a step with a non-finite loss before the
    # optimizer sees its gradients; the user's SVI object is left as it is.
    checked = copy.copy(svi)
    original = svi.loss_and_grads

    def loss_and_grads(*a: Any, **k: Any) -> Any:
        loss = original(*a, **k)
        value = float(loss)
        if not math.isfinite(value):
            raise _NonFiniteLoss(value)
        return loss

    checked.loss_and_grads = loss_and_grads
    result = FitResult()
    # One progress bar per job, not one per rank.
    progress = progress and is_main_process()
    bar = tqdm(total=num_steps, desc=desc, disable=not progress, dynamic_ncols=True)
    start = time.perf_counter()
    try:
        for step in range(num_steps):
            rng_state = torch.get_rng_state()
            try:
                loss = checked.step(*args, **kwargs)
            except _NonFiniteLoss as bad:
                _clear_grads()
                bar.close()
                raise _non_finite_error(
                    svi, step, bad.loss, rng_state, args, kwargs, result
                ) from None
            result.losses.append(loss)
            bar.update(1)
            bar.set_postfix_str(f"elbo={-loss:.4g}", refresh=False)
    except KeyboardInterrupt:
        _clear_grads()
        result.interrupted = True
        if progress:
            bar.write(
                f"interrupted after {result.num_steps} of {num_steps} steps; params kept",
                file=sys.stderr,
            )
    finally:
        result.seconds = time.perf_counter() - start
        bar.close()
    return result


def _non_finite_error(
    svi: SVI,
    step: int,
    loss: float,
    rng_state: torch.Tensor,
    args: Any,
    kwargs: Any,
    result: FitResult,
) -> NonFiniteLossError:
    sites = _diagnose(svi, rng_state, args, kwargs)
    params = _non_finite_params()
    where = ", ".join(sites) if sites else "no site (every log-prob was finite in a re-run)"
    message = f"fit: the loss became {loss} at step {step}; non-finite log-prob at: {where}"
    if params:
        message += f"; non-finite params: {params}"
    message += (
        ". The params keep their values from before this step. Hint: look for a "
        "scale that reached 0, a probability of exactly 0 or 1, or data outside a "
        "distribution's support; a smaller learning rate may help"
    )
    return NonFiniteLossError(message, step, loss, sites, params, result)
