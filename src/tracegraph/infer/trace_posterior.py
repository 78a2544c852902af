"""Posteriors represented by a weighted bag of execution traces, and the marginal
distributions of their sites.

A :class:`TracePosterior` subclass implements ``_traces`` (yielding traces and
their log weights); :meth:`TracePosterior.run` collects them, after which
:meth:`~TracePosterior.marginal` gives per-site :class:`EmpiricalMarginal`
distributions and calling the posterior draws a trace.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph.infer import Importance
>>> def model():
...     return tracegraph.sample("z", dist.Normal(0.0, 1.0))
>>> posterior = Importance(model, num_samples=100).run()
>>> marginal = EmpiricalMarginal(posterior)  # of the return value
>>> marginal.sample_size, marginal.sample((3,)).shape
(100, torch.Size([3]))
"""

from __future__ import annotations

import abc
from collections import OrderedDict, defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from tracegraph.distributions import Categorical
from tracegraph.distributions.empirical import Empirical
from tracegraph.infer.waic import waic
from tracegraph.poutine import handlers
from tracegraph.poutine.trace_struct import Trace

__all__ = ["EmpiricalMarginal", "Marginals", "TracePosterior"]


def _site_list(sites: str | Sequence[str] | None) -> list[str]:
    if sites is None:
        return ["_RETURN"]
    if isinstance(sites, str):
        return [sites]
    return list(sites)


class TracePosterior(abc.ABC):
    """Base class of inference algorithms whose result is a weighted set of
    execution traces (importance sampling, SVI's legacy ``run``, ...).

    Subclasses implement ``_traces(*args, **kwargs)``, a generator of
    ``(trace, log_weight)`` or ``(trace, log_weight, chain_id)``.

    :param num_chains: how many chains the traces come from (ids ``0 ..``).

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph.poutine import trace
    >>> def model():
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> class Prior(TracePosterior):
    ...     def _traces(self, n):
    ...         for _ in range(n):
    ...             yield trace(model).get_trace(), 0.0
    >>> posterior = Prior().run(5)
    >>> len(posterior.exec_traces), posterior.log_weights[0]
    (5, tensor(0.))
    """

    def __init__(self, num_chains: int = 1) -> None:
        self.num_chains = num_chains
        self._reset()

    def _reset(self) -> None:
        self.log_weights: list[Any] = []
        self.exec_traces: list[Trace] = []
        self.chain_ids: list[int] = []
        self._idx_by_chain: list[list[int]] = [[] for _ in range(self.num_chains)]
        self._categorical: Categorical | None = None

    @abc.abstractmethod
    def _traces(self, *args: Any, **kwargs: Any) -> Iterator[tuple[Any, ...]]:
        """Yield ``(trace, log_weight)`` or ``(trace, log_weight, chain_id)``."""
        raise NotImplementedError

    def run(self, *args: Any, **kwargs: Any) -> TracePosterior:
        """Collect the traces of ``_traces(*args, **kwargs)`` (hidden from the
        handlers outside), replacing those of an earlier run.

        :returns: ``self``.
        :raises RuntimeError: if ``_traces`` yields nothing.
        """
        self._reset()
        with handlers.block():
            for i, item in enumerate(self._traces(*args, **kwargs)):
                if len(item) == 2:
                    tr, log_weight = item
                    chain_id = 0
                else:
                    tr, log_weight, chain_id = item
                self.exec_traces.append(tr)
                self.log_weights.append(torch.as_tensor(log_weight))
                self.chain_ids.append(chain_id)
                self._idx_by_chain[chain_id].append(i)
        if not self.exec_traces:
            raise RuntimeError(
                f"{type(self).__name__}.run produced no traces; hint: ask for at least "
                "one sample"
            )
        self._categorical = Categorical(logits=torch.stack(self.log_weights).detach())
        return self

    def _require_run(self) -> None:
        if not self.exec_traces:
            raise RuntimeError(
                f"{type(self).__name__} has no traces yet; call .run(...) before asking "
                "for marginals, samples or criteria"
            )

    def marginal(self, sites: str | Sequence[str] | None = None) -> Marginals:
        """The marginal distributions of ``sites`` (default: the return value).

        :returns: a :class:`Marginals`.
        """
        return Marginals(self, sites)

    def __call__(self, *args: Any, **kwargs: Any) -> Trace:
        """Draw one of the collected traces in proportion to its weight.

        :returns: a copy of the trace without its observed sites (as in Pyro);
            its nodes are copies too, so editing them leaves the posterior as it is.
        """
        if self._categorical is None:
            self._require_run()
        assert self._categorical is not None
        index = int(self._categorical.sample().item())
        drawn = self.exec_traces[index].copy()
        for name, site in list(drawn.nodes.items()):
            if site["type"] == "sample" and site["is_observed"]:
                drawn.remove_node(name)
        return drawn

    def information_criterion(self, pointwise: bool = False) -> OrderedDict[str, torch.Tensor]:
        """The WAIC of the model and its effective number of parameters, from the
        log-likelihood of the (single) observed site in each trace
        (Vehtari, Gelman & Gabry 2017).

        :param pointwise: per data point instead of summed.
        :returns: ``OrderedDict(waic=..., p_waic=...)``.
        :raises ValueError: if a trace has more than one observed site, or the
            observed site changes between traces.
        :raises IndexError: if a trace has no observed site.
        """
        self._require_run()
        obs_node: str | None = None
        log_likelihoods = []
        for tr in self.exec_traces:
            names = tr.observation_nodes
            if len(names) > 1:
                raise ValueError(
                    f"the information criterion needs exactly one observed site, but the "
                    f"traces have {names}"
                )
            if not names:
                raise IndexError("the information criterion needs an observed site; none found")
            if obs_node is None:
                obs_node = names[0]
            elif names[0] != obs_node:
                raise ValueError(
                    f"the observed site changed between traces: '{obs_node}' then '{names[0]}'"
                )
            site = tr.nodes[obs_node]
            log_likelihoods.append(site["fn"].log_prob(site["value"]))
        ll = torch.stack(log_likelihoods, dim=0)
        log_w = torch.stack(self.log_weights).to(device=ll.device)
        value, p_waic = waic(ll, log_w, pointwise)
        return OrderedDict([("waic", value), ("p_waic", p_waic)])


class EmpiricalMarginal(Empirical):
    """The marginal distribution of one site (or several of the same shape,
    stacked along a new leftmost event dim) over a :class:`TracePosterior`'s
    traces, weighted by their log weights.  With several chains the chains form
    the batch dim.

    :param trace_posterior: a posterior that has been run.
    :param sites: a site name or a list of names (default ``"_RETURN"``).
    :param validate_args: torch's per-instance validation switch.
    :raises KeyError: if a trace lacks a site.
    :raises RuntimeError: if the posterior has not been run, or chains or sites
        disagree in size.

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph.infer import Importance
    >>> def model():
    ...     tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     tracegraph.sample("b", dist.Normal(0.0, 1.0))
    >>> marginal = EmpiricalMarginal(Importance(model, num_samples=4).run(), sites=["a", "b"])
    >>> marginal.event_shape
    torch.Size([2])
    """

    def __init__(
        self,
        trace_posterior: TracePosterior,
        sites: str | Sequence[str] | None = None,
        validate_args: bool | None = None,
    ) -> None:
        trace_posterior._require_run()
        self._num_chains = 1
        self._samples_buffer: defaultdict[int, list[torch.Tensor]] = defaultdict(list)
        self._weights_buffer: defaultdict[int, list[torch.Tensor]] = defaultdict(list)
        names: str | list[str]
        if sites is None or isinstance(sites, str):
            names = "_RETURN" if sites is None else sites
        else:
            names = list(sites)
        for tr, log_weight, chain_id in zip(
            trace_posterior.exec_traces,
            trace_posterior.log_weights,
            trace_posterior.chain_ids,
            strict=True,
        ):
            if isinstance(names, str):
                value = self._value(tr, names)
            else:
                value = self._stack([self._value(tr, n) for n in names], names)
            self._samples_buffer[chain_id].append(value)
            self._weights_buffer[chain_id].append(torch.as_tensor(log_weight))
        samples, weights = self._samples_and_weights()
        super().__init__(samples, weights, validate_args=validate_args)

    @staticmethod
    def _value(tr: Trace, name: str) -> torch.Tensor:
        if name not in tr.nodes:
            raise KeyError(name)
        return torch.as_tensor(tr.nodes[name]["value"])

    @staticmethod
    def _stack(values: list[torch.Tensor], what: Any) -> torch.Tensor:
        shapes = {tuple(v.shape) for v in values}
        if len(shapes) > 1:
            raise RuntimeError(
                f"EmpiricalMarginal: the values of {what} must share one shape to be "
                f"stacked, got shapes {sorted(shapes)}; hint: use Marginals for sites of "
                "different shapes"
            )
        return torch.stack(values)

    def _samples_and_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        chains = sorted(self._samples_buffer)
        self._num_chains = len(chains)
        if self._num_chains == 1:
            (chain,) = chains
            samples = self._stack(self._samples_buffer[chain], "the traces")
            return samples, torch.stack(self._weights_buffer[chain])
        sizes = {c: len(self._samples_buffer[c]) for c in chains}
        if len(set(sizes.values())) > 1:
            raise RuntimeError(
                f"EmpiricalMarginal: chains have different numbers of traces {sizes}; "
                "they must be equal to be stacked"
            )
        samples = torch.stack([self._stack(self._samples_buffer[c], "the traces") for c in chains])
        weights = torch.stack([torch.stack(self._weights_buffer[c]) for c in chains])
        return samples, weights


class Marginals:
    """The marginal distributions of several sites of a :class:`TracePosterior`,
    each an :class:`EmpiricalMarginal` (sites may differ in shape).

    :param trace_posterior: a posterior that has been run.
    :param sites: a site name or a list of names (default ``"_RETURN"``).
    :param validate_args: passed to each :class:`EmpiricalMarginal`.

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph.infer import Importance
    >>> def model():
    ...     tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     tracegraph.sample("b", dist.Normal(torch.zeros(2), 1.0).to_event(1))
    >>> m = Importance(model, num_samples=3).run().marginal(["a", "b"])
    >>> {name: tuple(s.shape) for name, s in m.support().items()}
    {'a': (3,), 'b': (3, 2)}
    """

    def __init__(
        self,
        trace_posterior: TracePosterior,
        sites: str | Sequence[str] | None = None,
        validate_args: bool | None = None,
    ) -> None:
        self.sites = _site_list(sites)
        self._marginals: OrderedDict[str, EmpiricalMarginal] = OrderedDict(
            (site, EmpiricalMarginal(trace_posterior, site, validate_args)) for site in self.sites
        )
        self._diagnostics: dict[str, Any] = {}
        self._trace_posterior = trace_posterior

    def support(self, flatten: bool = False) -> OrderedDict[str, torch.Tensor]:
        """The samples of each site.

        :param flatten: with several chains, merge the chain dim into the sample
            dim (chain after chain).
        :returns: ``OrderedDict(site=samples)``.
        """
        support = OrderedDict(
            (site, marginal.enumerate_support()) for site, marginal in self._marginals.items()
        )
        if flatten and self._trace_posterior.num_chains > 1:
            for site, samples in support.items():
                support[site] = samples.reshape((-1,) + samples.shape[2:])
        return support

    @property
    def empirical(self) -> OrderedDict[str, EmpiricalMarginal]:
        """``OrderedDict(site=EmpiricalMarginal)``."""
        return self._marginals
