"""Tests of tracegraph.cli.loading: loading FILE.py:name and reading --args."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tracegraph.cli.loading import CliError, FunctionLoader, parse_model_args, user_code


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_loader_spec_without_name_uses_default(tmp_path):
    path = write(tmp_path, "m.py", "def model():\n    return 'm'\n")
    fn, name = FunctionLoader().load(str(path), "model")
    assert fn() == "m" and name == "model"


def test_loader_one_module_per_file(tmp_path):
    path = write(tmp_path, "m.py", "state = []\ndef model():\n    return state\n")
    loader = FunctionLoader()
    model, _ = loader.load(f"{path}:model", "model")
    same, _ = loader.load(f"{path}:model", "model")
    assert model() is same()


def test_loader_file_can_import_its_neighbours_and_use_dataclasses(tmp_path):
    write(tmp_path, "helper.py", "VALUE = 7\n")
    path = write(
        tmp_path,
        "m.py",
        "from dataclasses import dataclass\nimport helper\n\n@dataclass\nclass C:\n    x: int\n\n"
        "def model():\n    return C(helper.VALUE).x\n",
    )
    fn, _ = FunctionLoader().load(f"{path}:model", "model")
    assert fn() == 7


def test_loader_missing_file_raises(tmp_path):
    with pytest.raises(CliError, match="^no such file: .*nope.py$"):
        FunctionLoader().load(f"{tmp_path / 'nope.py'}:model", "model")


def test_loader_folder_raises(tmp_path):
    with pytest.raises(CliError, match="^not a file: "):
        FunctionLoader().load(f"{tmp_path}:model", "model")


def test_loader_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "m.py", "x = 1\ndef f(:\n")
    with pytest.raises(CliError, match=r"could not load .*m.py: SyntaxError at line 2"):
        FunctionLoader().load(str(path), "model")


def test_loader_file_that_raises_names_the_exception(tmp_path):
    path = write(tmp_path, "m.py", "raise RuntimeError('boom')\n")
    with pytest.raises(CliError, match="it raised RuntimeError: boom$"):
        FunctionLoader().load(str(path), "model")


def test_loader_missing_name_lists_the_functions(tmp_path):
    path = write(tmp_path, "m.py", "import os\ndef model(): pass\ndef guide(): pass\n")
    with pytest.raises(CliError, match=r"has no 'modle' \(functions defined there: guide, model\)"):
        FunctionLoader().load(f"{path}:modle", "model")


def test_loader_not_callable_names_the_type(tmp_path):
    path = write(tmp_path, "m.py", "model = [1, 2]\n")
    with pytest.raises(CliError, match="'model' in .* is a list, not a function"):
        FunctionLoader().load(str(path), "model")


def test_parse_model_args_array_is_positional():
    args, kwargs = parse_model_args('[[1, 2], [[0, 1], [1, 0]], "text", true, null, 3]')
    assert kwargs == {}
    assert torch.equal(args[0], torch.tensor([1.0, 2.0]))
    assert args[1].shape == torch.Size([2, 2]) and args[1].dtype == torch.get_default_dtype()
    assert args[2:] == ("text", True, None, 3)


def test_parse_model_args_object_is_keywords():
    args, kwargs = parse_model_args('{"data": [0, 1], "n": 2, "names": ["a", "b"]}')
    assert args == () and kwargs["n"] == 2 and kwargs["names"] == ["a", "b"]
    assert torch.equal(kwargs["data"], torch.tensor([0.0, 1.0]))


def test_parse_model_args_scalar_is_one_argument():
    assert parse_model_args("2.5") == ((2.5,), {})
    assert parse_model_args(None) == ((), {})


def test_parse_model_args_ragged_list_raises():
    with pytest.raises(CliError, match="cannot make a tensor of"):
        parse_model_args("[[[1, 2], [3]]]")


def test_parse_model_args_invalid_json_raises():
    with pytest.raises(CliError, match="--args is not valid JSON"):
        parse_model_args("[1,")


def test_user_code_wraps_exceptions_with_cause():
    with pytest.raises(CliError, match="^the guide raised KeyError: 'p'$") as info:
        with user_code("the guide"):
            raise KeyError("p")
    assert isinstance(info.value.__cause__, KeyError)


def test_user_code_passes_keyboard_interrupt_through():
    with pytest.raises(KeyboardInterrupt):
        with user_code("the model"):
            raise KeyboardInterrupt
