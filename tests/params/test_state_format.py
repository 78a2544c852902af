"""Integrity of param-store files: digests per tensor, damaged and truncated files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import constraints

from tracegraph.errors import ParamFileError, TruncatedParamFileError
from tracegraph.params import ParamStoreDict
from tracegraph.params.state_format import tensor_digest, to_payload


def _store() -> ParamStoreDict:
    store = ParamStoreDict()
    store.setdefault("loc", torch.arange(6.0).reshape(2, 3) / 7)
    store.setdefault("scale", torch.tensor([0.5, 2.0, 3.5]), constraints.positive)
    return store


def _saved() -> bytes:
    buffer = io.BytesIO()
    _store().save(buffer)
    return buffer.getvalue()


SAVED = _saved()


def _tensor_records(data: bytes) -> dict[str, tuple[int, int]]:
    # Archive entry name -> [start, end) of its bytes, padding included: from the
    # entry's local header to the end of its data.
    records = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if "/data/" in info.filename:
                header = data[info.header_offset : info.header_offset + 30]
                name_len = int.from_bytes(header[26:28], "little")
                extra_len = int.from_bytes(header[28:30], "little")
                start = info.header_offset + 30 + name_len + extra_len
                records[info.filename] = (info.header_offset, start + info.file_size)
    return records


def _data_bytes(data: bytes) -> list[tuple[int, int]]:
    # [start, end) of the tensor bytes themselves (no header, no padding).
    spans = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if "/data/" in info.filename:
                end = _tensor_records(data)[info.filename][1]
                spans.append((end - info.file_size, end))
    return spans


def _kept(store: ParamStoreDict) -> dict[str, torch.Tensor]:
    return {name: store[name].detach().clone() for name in store.keys()}


def _flip(data: bytes, position: int, mask: int = 0xFF) -> bytes:
    damaged = bytearray(data)
    damaged[position] ^= mask
    return bytes(damaged)


def test_save_records_digest_per_tensor():
    payload = to_payload({"a": torch.ones(2)}, {"a": constraints.real})
    assert payload["digests"] == {"a": tensor_digest(torch.ones(2))}
    assert tensor_digest(torch.ones(2)) != tensor_digest(torch.tensor([1.0, 1.0 + 2**-20]))
    assert tensor_digest(torch.ones(2)) != tensor_digest(torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize("record", [0, 1])
def test_load_flipped_tensor_byte_refused_naming_param_store_unchanged(record: int):
    start, end = _data_bytes(SAVED)[record]
    damaged = _flip(SAVED, (start + end) // 2, 0x01)
    store = ParamStoreDict()
    store["keep"] = torch.tensor([7.0])
    with pytest.raises(ParamFileError, match=r"param '(loc|scale)'.*digest") as info:
        store.load(io.BytesIO(damaged))
    assert isinstance(info.value, RuntimeError)
    assert store.keys() == ["keep"] and store["keep"].tolist() == [7.0]


def test_load_damaged_file_path_named(tmp_path: Path):
    start, end = _data_bytes(SAVED)[0]
    path = tmp_path / "ckpt.pt"
    path.write_bytes(_flip(SAVED, start))
    with pytest.raises(ParamFileError, match=r"param-store file '.*ckpt\.pt': param '"):
        ParamStoreDict().load(path)


@pytest.mark.parametrize("cut", [1, 30, 200, len(SAVED) // 2, len(SAVED) - 10])
def test_load_truncated_file_names_file_and_problem(tmp_path: Path, cut: int):
    path = tmp_path / "cut.pt"
    path.write_bytes(SAVED[:cut])
    store = _store()
    before = _kept(store)
    with pytest.raises(ParamFileError) as info:
        store.load(path)
    message = str(info.value)
    assert "cut.pt" in message and "truncated or damaged" in message
    assert "PytorchStreamReader" not in message
    assert all(torch.equal(store[n], v) for n, v in before.items())


def test_load_empty_file_is_eof_error_naming_file(tmp_path: Path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(TruncatedParamFileError, match=r"'.*empty\.pt' is empty") as info:
        ParamStoreDict().load(path)
    assert isinstance(info.value, EOFError)


def test_load_not_a_zip_names_file(tmp_path: Path):
    path = tmp_path / "text.pt"
    path.write_bytes(b"PK\x03\x04 this is not an archive at all" * 4)
    with pytest.raises(ParamFileError, match=r"'.*text\.pt' is not a readable param-store"):
        ParamStoreDict().load(path)


def test_load_file_without_digests_still_loads():
    # A file written before digests existed: the same payload without the key.
    payload = to_payload({"a": torch.tensor([1.5, -2.0])}, {"a": constraints.real})
    del payload["digests"]
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    buffer.seek(0)
    store = ParamStoreDict()
    store.load(buffer)
    assert store["a"].tolist() == [1.5, -2.0]


def test_load_digests_naming_other_params_refused():
    payload = to_payload({"a": torch.ones(1)}, {"a": constraints.real})
    payload["digests"] = {"b": payload["digests"]["a"]}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    buffer.seek(0)
    with pytest.raises(ParamFileError, match="'digests' must name the same params"):
        ParamStoreDict().load(buffer)


# Any single damaged byte of a tensor record (its header, padding or data) is
# refused, or, where nothing reads the byte, the file loads the very same values.
_RECORD_SPANS = list(_tensor_records(SAVED).values())
_POSITIONS = st.sampled_from([p for a, b in _RECORD_SPANS for p in range(a, b)])


@settings(max_examples=200, deadline=None)
@given(position=_POSITIONS, mask=st.integers(1, 255))
def test_load_any_flipped_record_byte_refused_or_identical(position: int, mask: int):
    expected = _kept(_store())
    store = ParamStoreDict()
    store["keep"] = torch.tensor([7.0])
    try:
        store.load(io.BytesIO(_flip(SAVED, position, mask)))
    except (ParamFileError, ValueError):
        assert store.keys() == ["keep"] and store["keep"].tolist() == [7.0]
        return
    for name, value in expected.items():
        assert torch.equal(store[name], value), (name, position)
