"""Load a user's functions and arguments for the command line, with errors a user
can act on.

Every problem becomes a :class:`CliError` whose message is one line naming the
problem; :func:`tracegraph.cli.main` prints it and exits with status 1 (or
re-raises the original exception under ``--debug``).

>>> parse_model_args('[[0, 1, 1], 2]')
((tensor([0., 1., 1.]), 2), {})
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

__all__ = ["CliError", "FunctionLoader", "parse_model_args", "user_code"]


class CliError(Exception):
    """A problem with the command line's input, reported as one line.

    >>> str(CliError("no such file: m.py"))
    'no such file: m.py'
    """


@contextmanager
def user_code(what: str) -> Iterator[None]:
    """Turn an exception raised by the user's code into a :class:`CliError`
    naming ``what`` was running (the original stays as ``__cause__``).

    >>> with user_code("the model"):
    ...     raise ValueError("bad scale")
    Traceback (most recent call last):
    ...
    tracegraph.cli.loading.CliError: the model raised ValueError: bad scale
    """
    try:
        yield
    except CliError:
        raise
    except Exception as exc:
        raise CliError(f"{what} raised {type(exc).__name__}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def _split_spec(spec: str, default_name: str) -> tuple[str, str]:
    path, sep, name = spec.rpartition(":")
    if sep and name.isidentifier() and path:
        return path, name
    return spec, default_name


class FunctionLoader:
    """Load ``FILE.py:name`` specs; a file is executed once however many of its
    functions are loaded (model and guide share one module's globals).

    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "m.py")
    ...     with open(path, "w") as f:
    ...         _ = f.write("def model():\\n    return 1\\nscale = 2\\n")
    ...     loader = FunctionLoader()
    ...     print(loader.load(path + ":model", "model")[0]())
    ...     try:
    ...         loader.load(path + ":scale", "model")
    ...     except CliError as e:
    ...         print(str(e).replace(path, "m.py"))
    1
    'scale' in m.py is an int, not a function
    """

    def __init__(self) -> None:
        self._modules: dict[Path, ModuleType] = {}

    def _module(self, path_text: str) -> ModuleType:
        path = Path(path_text)
        if not path.exists():
            raise CliError(f"no such file: {path_text}")
        if not path.is_file():
            raise CliError(f"not a file: {path_text}")
        key = path.resolve()
        module = self._modules.get(key)
        if module is not None:
            return module
        name = f"_tracegraph_user_{id(self)}_{len(self._modules)}"
        spec = importlib.util.spec_from_file_location(name, key)
        if spec is None or spec.loader is None:
            raise CliError(f"cannot load {path_text} as Python (expected a .py file)")
        module = importlib.util.module_from_spec(spec)
        # Registered before it runs, as an import would: dataclasses and pickling
        # look the module up by name.  As `python FILE.py` would, the file's folder
        # comes first on sys.path, so it can import its neighbours.
        sys.modules[name] = module
        sys.path.insert(0, str(key.parent))
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            del sys.modules[name]
            raise CliError(
                f"could not load {path_text}: SyntaxError at line {exc.lineno}: {exc.msg}"
            ) from exc
        except Exception as exc:
            del sys.modules[name]
            raise CliError(
                f"could not load {path_text}: it raised {type(exc).__name__}: {_first_line(exc)}"
            ) from exc
        finally:
            try:
                sys.path.remove(str(key.parent))
            except ValueError:  # the file removed it itself
                pass
        self._modules[key] = module
        return module

    def load(self, spec: str, default_name: str) -> tuple[Callable[..., Any], str]:
        """Load the function named by ``spec`` (``FILE.py:name``, or ``FILE.py``
        for ``default_name``).

        :returns: the function and its name.
        :raises CliError: a missing file, a file that fails to run, a missing
            name or a name that is not callable.
        """
        path, name = _split_spec(spec, default_name)
        module = self._module(path)
        if not hasattr(module, name):
            functions = sorted(
                n
                for n, v in vars(module).items()
                if callable(v)
                and not n.startswith("_")
                and getattr(v, "__module__", None) == module.__name__
            )
            found = ", ".join(functions) if functions else "none"
            raise CliError(f"{path} has no '{name}' (functions defined there: {found})")
        fn = getattr(module, name)
        if not callable(fn):
            kind = type(fn).__name__
            article = "an" if kind[:1].lower() in "aeiou" else "a"
            raise CliError(f"'{name}' in {path} is {article} {kind}, not a function")
        return fn, name


def _convert(value: Any) -> Any:
    # A list of numbers (at any depth) is data: a float tensor.  Everything else
    # keeps its JSON type, with containers converted element-wise.
    if isinstance(value, list):
        if _is_numeric(value):
            try:
                return torch.tensor(value, dtype=torch.get_default_dtype())
            except (ValueError, TypeError) as exc:
                raise CliError(f"--args: cannot make a tensor of {value!r}: {exc}") from exc
        return [_convert(v) for v in value]
    if isinstance(value, dict):
        return {k: _convert(v) for k, v in value.items()}
    return value


def _is_numeric(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_is_numeric(v) for v in value)
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_model_args(text: str | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Read ``--args`` JSON: an array is the positional arguments, an object the
    keyword arguments, anything else a single positional argument.  Lists of
    numbers become float tensors.

    :param text: the JSON text, or ``None`` for no arguments.
    :returns: ``(args, kwargs)``.
    :raises CliError: if the text is not JSON or a list is ragged.

    >>> parse_model_args('{"n": 3}')
    ((), {'n': 3})
    >>> parse_model_args('[1, 2')
    Traceback (most recent call last):
    ...
    tracegraph.cli.loading.CliError: --args is not valid JSON (...); ...
    """
    if text is None:
        return (), {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"--args is not valid JSON ({exc.msg} at column {exc.colno}); "
            """example: --args '[[0, 1, 1, 0]]' for one tensor argument"""
        ) from None
    if isinstance(value, list):
        return tuple(_convert(v) for v in value), {}
    if isinstance(value, dict):
        return (), _convert(value)
    return (_convert(value),), {}
