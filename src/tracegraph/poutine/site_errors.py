"""What an error raised at a site, or between two sites, says about where it
happened: the site, its plates and shapes, and the user's line of the program.

torch's messages name a parameter or a constraint, never the site; and an
error raised while the program builds a distribution (before it calls
``sample``) happens where no site is known yet.  These helpers word the
notes and the errors the handlers attach or raise in those places.

>>> print(class_fn_error("s", torch.distributions.Normal, "its log_prob cannot be computed"))
site 's': fn is the class Normal, not a distribution instance, so its log_prob cannot be
computed; hint: construct it with its parameters, e.g. Normal(...)
"""

from __future__ import annotations

import linecache
import pathlib
import sysconfig
from types import TracebackType
from typing import Any

import torch

from tracegraph.errors import ShapeError, SiteTypeError
from tracegraph.poutine.messages import describe_site

__all__ = ["class_fn_error", "fn_hint", "masked_value_error", "program_line"]


def class_fn_error(name: Any, fn: type, what: str) -> SiteTypeError:
    """The error for site ``name`` whose ``fn`` is a class where an instance
    belongs (``dist.Normal`` instead of ``dist.Normal(0., 1.)``); a
    ``TypeError``, as Pyro's call or ``log_prob`` on the class raises.

    :param what: what failed because of it.

    >>> err = class_fn_error("x", torch.distributions.Bernoulli, "calling it failed")
    >>> isinstance(err, TypeError), str(err)
    (True, "site 'x': fn is the class Bernoulli, not a distribution instance, ...")
    """
    return SiteTypeError(
        f"site {name!r}: fn is the class {fn.__name__}, not a distribution instance, so "
        f"{what}; hint: construct it with its parameters, e.g. {fn.__name__}(...)"
    )


def fn_hint(name: Any, fn: Any) -> str | None:
    """A hint for a site whose ``fn`` has no ``log_prob`` (a function, a tensor),
    else ``None``.

    >>> print(fn_hint("x", lambda: 0.0))
    hint: site 'x' has a function as fn, which has no log_prob; pass a distribution
    instance such as dist.Normal(0., 1.)
    >>> fn_hint("x", torch.distributions.Normal(0.0, 1.0)) is None
    True
    """
    if isinstance(fn, type) or hasattr(fn, "log_prob"):
        return None
    return (
        f"hint: site {name!r} has a {type(fn).__name__} as fn, which has no log_prob; "
        "pass a distribution instance such as dist.Normal(0., 1.)"
    )


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(getattr(x, "shape", ()))


def masked_value_error(
    msg: Any, obs_mask: torch.Tensor, observed: Any, unobserved: Any, exc: BaseException
) -> BaseException:
    """What to raise when combining the observed and the latent part of an
    ``obs_mask`` site failed with ``exc``: a :class:`~tracegraph.errors.ShapeError`
    (a ``ValueError``, as Pyro) when the mask does not broadcast with the site's
    batch shape; ``exc`` itself, with a note, when the two values do not even
    broadcast with each other (Pyro's ``RuntimeError`` then).

    :param msg: the message of the observed part (its name and plates are used).

    >>> from tracegraph.poutine.messages import new_sample_message
    >>> m = new_sample_message("s", torch.distributions.Normal(torch.zeros(3), 1.0))
    >>> m["name"] = "s"
    >>> err = masked_value_error(m, torch.ones(2, dtype=torch.bool), torch.zeros(3),
    ...                          torch.zeros(3), RuntimeError("size mismatch"))
    >>> print(err)
    site 's': obs_mask has shape (2,), which does not broadcast with the site's batch
    shape (3,); expected a mask broadcastable to (3,) (value shape (3,), event shape ();
    no plates)
    """
    fn = msg["fn"]
    event_dim = len(getattr(fn, "event_shape", ()))
    where = describe_site(msg).split("; ", 1)[-1]
    try:
        shape = torch.broadcast_shapes(_shape(observed), _shape(unobserved))
    except RuntimeError:
        exc.add_note(
            f"while combining the observed and the latent values of site {msg['name']!r}"
            f" under obs_mask of shape {tuple(obs_mask.shape)}: obs has shape "
            f"{_shape(observed)} and the latent value {_shape(unobserved)}, which do not "
            f"broadcast with each other ({where}); hint: give obs the site's shape"
        )
        exc._tracegraph_site_noted = True  # type: ignore[attr-defined]
        return exc
    cut = max(len(shape) - event_dim, 0)
    batch, event = tuple(shape[:cut]), tuple(shape[cut:])
    return ShapeError(
        f"site {msg['name']!r}: obs_mask has shape {tuple(obs_mask.shape)}, which does not "
        f"broadcast with the site's batch shape {batch}; expected a mask broadcastable "
        f"to {batch} (value shape {tuple(shape)}, event shape {event}; {where})"
    )


def _library_roots() -> tuple[str, ...]:
    # Frames in these trees are not the user's program.
    roots = {
        pathlib.Path(torch.__file__).resolve().parent,
        pathlib.Path(__file__).resolve().parents[1],  # the tracegraph package
    }
    for key in ("stdlib", "platstdlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(pathlib.Path(path).resolve())
    return tuple(str(r) + "/" for r in roots)


_LIBRARY_ROOTS = _library_roots()


def program_line(tb: TracebackType | None) -> str | None:
    """Where in the user's program an exception arose: ``File "...", line N`` and
    the line's text, from the innermost frame of ``tb`` outside torch, tracegraph
    and the standard library; ``None`` if every frame is theirs.

    >>> def model():
    ...     torch.zeros(2) + torch.zeros(3)
    >>> try:
    ...     model()
    ... except RuntimeError as exc:
    ...     print(program_line(exc.__traceback__).split(", line ")[1])
    2, in model: torch.zeros(2) + torch.zeros(3)
    """
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        path = code.co_filename
        resolved = path
        if not path.startswith("<"):
            try:
                resolved = str(pathlib.Path(path).resolve())
            except OSError:
                pass
        if not resolved.startswith(_LIBRARY_ROOTS):
            found = (path, tb.tb_lineno, code.co_name)
        tb = tb.tb_next
    if found is None:
        return None
    path, lineno, func = found
    where = f'File "{path}", line {lineno}, in {func}'
    text = linecache.getline(path, lineno).strip()
    return f"{where}: {text}" if text else where
