"""The base of the automatic guides: a prototype trace of the model, plates, and
composition (:class:`AutoGuideList`, :class:`AutoCallable`).

An autoguide runs the model once, on the first call, with every site it does not
care about hidden (observations, params, plate indices): that *prototype trace*
tells it each latent site's distribution, shape and plates.  Each later call
opens the same plates (:meth:`AutoGuide._create_plates`; a subsampled plate
draws its indices here, and the model replayed on the guide's trace reuses
them), samples every latent site and returns ``{site name: value}``.

>>> import torch
>>> import tracegraph, tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> from tracegraph.infer.autoguide import AutoDelta, AutoNormal
>>> def model(data):
...     loc = tracegraph.sample("loc", dist.Normal(0.0, 10.0))
...     with tracegraph.plate("data", len(data)):
...         z = tracegraph.sample("z", dist.Bernoulli(0.5))
...         tracegraph.sample("x", dist.Normal(loc + z, 1.0), obs=data)
>>> guide = AutoGuideList(model)
>>> guide.append(AutoNormal(poutine.block(model, hide=["z"])))
>>> def assignments(data):
...     with tracegraph.plate("data", len(data)):
...         return {"z": tracegraph.sample("z", dist.Bernoulli(0.5))}
>>> guide.append(assignments)
>>> sorted(guide(torch.zeros(3)))
['loc', 'z']
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

import torch

from tracegraph.errors import SiteError
from tracegraph.infer.autoguide.initialization import InitMessenger  # noqa: F401
from tracegraph.nn import PyroModule
from tracegraph.poutine import handlers
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.trace_struct import Trace
from tracegraph.primitives import plate

__all__ = ["AutoCallable", "AutoGuide", "AutoGuideList", "prototype_hide_fn"]


def prototype_hide_fn(msg: Message) -> bool:
    """Which sites the prototype trace leaves out: everything but unobserved
    sample sites (plate indices included).

    >>> prototype_hide_fn({"type": "param", "is_observed": False})
    True
    """
    return bool(msg["type"] != "sample" or msg["is_observed"] or site_is_subsample(msg))


class AutoGuide(PyroModule):
    """Base class of automatic guides; a subclass implements ``forward`` with the
    model's arguments, returning ``{site name: value}``.

    :param model: the model.
    :param create_plates: a function of the model's arguments returning a plate
        (or an iterable of plates) for the guide to use instead of making its own,
        to control subsampling; plates it does not return are made as usual.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> class Prior(AutoGuide):
    ...     def forward(self):
    ...         if self.prototype_trace is None:
    ...             self._setup_prototype()
    ...         return {name: tracegraph.sample(name, site["fn"])
    ...                 for name, site in self.prototype_trace.iter_stochastic_nodes()}
    >>> sorted(Prior(lambda: tracegraph.sample("x", dist.Normal(0.0, 1.0)))())
    ['x']
    """

    def __init__(self, model: Callable[..., Any], *, create_plates: Any = None) -> None:
        super().__init__(name=type(self).__name__)
        self.master: Any = None
        # In a tuple, so that a PyroModule model is not registered as a child.
        self._model = (model,)
        self.create_plates = create_plates
        self.prototype_trace: Trace | None = None
        self._prototype_frames: dict[str, Any] = {}

    @property
    def model(self) -> Callable[..., Any]:
        """The model this guide was built for."""
        return self._model[0]

    def __getstate__(self) -> dict[str, Any]:
        # The master is a weak reference (not picklable); the root re-links its
        # parts when unpickled.
        state = dict(super().__getstate__())
        state["master"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for child in self.children():
            if isinstance(child, AutoGuide):
                child._update_master(weakref.ref(self))

    def _update_master(self, master_ref: Any) -> None:
        self.master = master_ref
        for child in self.children():
            if isinstance(child, AutoGuide):
                child._update_master(master_ref)

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, AutoGuide):
            master = self if self.__dict__.get("master") is None else self.master()
            value._update_master(weakref.ref(master))
        super().__setattr__(name, value)

    def call(self, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """The guide's values as a tuple ordered by site name (for JIT tracing).

        >>> import tracegraph, tracegraph.distributions as dist
        >>> from tracegraph.infer.autoguide import AutoDelta
        >>> guide = AutoDelta(lambda: tracegraph.sample("x", dist.Normal(0.0, 1.0)))
        >>> len(guide.call())
        1
        """
        result = self(*args, **kwargs)
        return tuple(v for _, v in sorted(result.items()))

    def sample_latent(*args: Any, **kwargs: Any) -> Any:
        """Draw the guide's latent representation (guides with one; a no-op here)."""

    # -- the prototype ----------------------------------------------------------------
    @staticmethod
    def _prototype_hide_fn(msg: Message) -> bool:
        return prototype_hide_fn(msg)

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        hidden = handlers.block(self.model, self._prototype_hide_fn)
        with handlers.block():
            self.prototype_trace = handlers.trace(hidden).get_trace(*args, **kwargs)
        if self.master is not None:
            self.master()._check_prototype(self.prototype_trace)
        self._prototype_frames = {}
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            for frame in site["cond_indep_stack"]:
                if not frame.vectorized:
                    raise NotImplementedError(
                        f"{type(self).__name__} does not support sequential plates: site "
                        f"{name!r} is inside `for ... in plate({frame.name!r}, ...)`; hint: "
                        "use a vectorized plate (`with plate(...)`) or write this guide by hand"
                    )
                self._prototype_frames[frame.name] = frame

    def _create_plates(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if self.master is not None:
            if self.create_plates is not None:
                raise SiteError(
                    f"{type(self).__name__}: create_plates belongs to the outermost guide "
                    "(the AutoGuideList), not to one of its parts"
                )
            self.plates: dict[str, Any] = self.master().plates
            return self.plates
        plates: Any = {} if self.create_plates is None else self.create_plates(*args, **kwargs)
        if isinstance(plates, plate):
            plates = [plates]
        if not isinstance(plates, dict):
            plates = {p.name: p for p in plates}
        self.plates = dict(plates)
        for name, frame in sorted(self._prototype_frames.items()):
            if name not in self.plates:
                full_size = frame.full_size if frame.full_size is not None else frame.size
                self.plates[name] = plate(name, full_size, dim=frame.dim, subsample_size=frame.size)
        return self.plates

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The posterior median of each latent site.

        :returns: ``{site name: median}``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define a median")


class AutoGuideList(AutoGuide, torch.nn.ModuleList):
    """A guide made of parts, each an autoguide (or a plain guide function) for
    some of the model's sites; the parts share the plates (so a subsampled plate
    draws its indices once per call).

    Build each part on the model restricted to its sites (``poutine.block``);
    no two parts may sample the same site.

    :param model: the model.

    >>> import torch, tracegraph, tracegraph.distributions as dist
    >>> from tracegraph import poutine
    >>> from tracegraph.infer.autoguide import AutoDelta, AutoNormal
    >>> def model():
    ...     tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     tracegraph.sample("b", dist.Normal(0.0, 1.0))
    >>> guide = AutoGuideList(model)
    >>> guide.append(AutoNormal(poutine.block(model, expose=["a"])))
    >>> guide.append(AutoDelta(poutine.block(model, expose=["b"])))
    >>> sorted(guide.median())
    ['a', 'b']
    """

    def _check_prototype(self, part_trace: Trace) -> None:
        if self.prototype_trace is None:
            return  # a part set up before the list ran (its median, say)
        for name, part_site in part_trace.nodes.items():
            if part_site["type"] != "sample":
                continue
            self_site = self.prototype_trace.nodes.get(name)
            if self_site is None:
                raise SiteError(
                    f"AutoGuideList: a part guides site {name!r}, which the model does not have"
                )
            got = (part_site["fn"].batch_shape, part_site["fn"].event_shape)
            expected = (self_site["fn"].batch_shape, self_site["fn"].event_shape)
            if got != expected:
                raise SiteError(
                    f"AutoGuideList: a part sees site {name!r} with batch|event shape "
                    f"{tuple(got[0])}|{tuple(got[1])}, the model has "
                    f"{tuple(expected[0])}|{tuple(expected[1])}; hint: build each part on "
                    "poutine.block(model, ...) of the same model"
                )

    def append(self, part: Any) -> None:  # type: ignore[override]
        """Add a part: an autoguide, or a guide function (wrapped in
        :class:`AutoCallable`) for some of the model's sites.

        :raises RuntimeError: if ``part`` already belongs to a guide list.
        """
        if not isinstance(part, AutoGuide):
            part = AutoCallable(self.model, part)
        if part.master is not None:
            raise RuntimeError(f"The module `{self._pyro_name}` is already added.")
        setattr(self, str(len(self)), part)

    def add(self, part: Any) -> None:
        """Deprecated alias of :meth:`append`."""
        self.append(part)

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Run every part on the model's arguments.

        :returns: ``{site name: value}`` of all parts.
        """
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        self._create_plates(*args, **kwargs)
        result: dict[str, Any] = {}
        for part in self:
            result.update(part(*args, **kwargs))
        return result

    def _prepare(self, *args: Any, **kwargs: Any) -> None:
        # The parts' medians may run them, and they use this list's plates.
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        if "plates" not in self.__dict__:
            self._create_plates(*args, **kwargs)

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Every part's posterior medians.

        :returns: ``{site name: median}``.
        """
        self._prepare(*args, **kwargs)
        result: dict[str, torch.Tensor] = {}
        part: Any
        for part in self:
            result.update(part.median(*args, **kwargs))
        return result

    def quantiles(self, quantiles: Any, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Every part's posterior quantiles (each part must have ``quantiles``).

        :param quantiles: the levels, between 0 and 1.
        :returns: ``{site name: tensor of quantiles}``.
        """
        self._prepare(*args, **kwargs)
        result: dict[str, torch.Tensor] = {}
        part: Any
        for part in self:
            result.update(part.quantiles(quantiles, *args, **kwargs))
        return result


class AutoCallable(AutoGuide):
    """Wraps a plain guide function as a part of an :class:`AutoGuideList`.

    :param model: the model.
    :param guide: the guide function (for some of the model's sites); what it
        returns (a dict, or None for an empty one) is the part's result.
    :param median: a function of the model's arguments returning
        ``{site name: median}`` for those sites.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> part = AutoCallable(None, lambda: {"x": tracegraph.sample("x", dist.Normal(0.0, 1.0))})
    >>> list(part()), part.median()
    (['x'], {})
    """

    def __init__(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        median: Callable[..., dict[str, torch.Tensor]] = lambda *args, **kwargs: {},
    ) -> None:
        super().__init__(model)
        self._guide = guide
        self.median = median  # type: ignore[method-assign]

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        result = self._guide(*args, **kwargs)
        return {} if result is None else result


def site_plates(plates: dict[str, Any], site: Any) -> Iterable[Any]:
    """The guide's plates for a prototype site's vectorized frames, outer first."""
    return [plates[f.name] for f in site["cond_indep_stack"] if f.vectorized]
