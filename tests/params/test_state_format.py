"""Integrity of param-store files: per-tensor and record digests, file versions,
damaged and truncated files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import constraints

from tracegraph.errors import (
    MalformedParamFileError,
    ParamFileError,
    SiteError,
    TruncatedParamFileError,
)
from tracegraph.params import ParamStoreDict
from tracegraph.params.state_format import from_payload, tensor_digest, to_payload


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
    with pytest.raises(ParamFileError, match=r"'.*text\.pt' is truncated or damaged"):
        ParamStoreDict().load(path)


def _saved_payload(payload: dict[str, Any]) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    buffer.seek(0)
    return buffer


def _version_1(params: dict[str, torch.Tensor], digests: bool) -> dict[str, Any]:
    # What tracegraph wrote before the record digest existed (with per-tensor
    # digests), and before that (without).
    payload: dict[str, Any] = {
        "format": "tracegraph.ParamStoreDict",
        "version": 1,
        "params": params,
        "constraints": {name: {"name": "positive"} for name in params},
    }
    if digests:
        payload["digests"] = {name: tensor_digest(t) for name, t in params.items()}
    return payload


@pytest.mark.parametrize("digests", [True, False])
def test_load_version_1_file_still_loads(digests: bool):
    store = ParamStoreDict()
    store.load(_saved_payload(_version_1({"s": torch.tensor([1.5, -2.0])}, digests)))
    assert store.get_state()["constraints"]["s"] is constraints.positive
    assert store["s"].unconstrained().tolist() == [1.5, -2.0]


def test_load_version_1_file_checks_its_tensor_digests():
    payload = _version_1({"s": torch.tensor([1.5, -2.0])}, digests=True)
    payload["params"]["s"] = torch.tensor([1.5, -2.5])
    with pytest.raises(ParamFileError, match="param 's'.*digest"):
        ParamStoreDict().load(_saved_payload(payload))


def test_load_version_2_damaged_into_version_1_refused():
    # A version-2 file whose version byte reads 1 still has its record digest,
    # which version 1 never had: refused, not loaded with weaker checks.
    payload = to_payload({"a": torch.ones(1)}, {"a": constraints.real})
    payload["version"] = 1
    with pytest.raises(MalformedParamFileError, match="version 1: expected keys") as info:
        ParamStoreDict().load(_saved_payload(payload))
    assert isinstance(info.value, SiteError)


def test_save_writes_version_2_with_record_digest():
    payload = to_payload({"a": torch.ones(1)}, {"a": constraints.real})
    assert payload["version"] == 2
    assert payload["record_digest"].startswith("sha256:") and len(payload["record_digest"]) == 71


def _three() -> dict[str, Any]:
    return to_payload(
        {"a": torch.tensor([0.5, -1.0]), "b": torch.tensor([0.0]), "c": torch.tensor([0.0])},
        {"a": constraints.real, "b": constraints.unit_interval, "c": constraints.positive},
    )


def _rename_a(p: dict[str, Any]) -> None:
    # What a flipped bit in the memoized name string does: every dict renamed.
    for key in ("params", "constraints", "digests"):
        p[key] = {("`" if n == "a" else n): v for n, v in p[key].items()}


def _drop_b(p: dict[str, Any]) -> None:
    for key in ("params", "constraints", "digests"):
        del p[key]["b"]


def _c_into_b(p: dict[str, Any]) -> None:
    # b gets the value and constraint of c, and c is gone.
    for key in ("params", "constraints", "digests"):
        p[key]["b"] = p[key].pop("c")


def _swap_constraints(p: dict[str, Any]) -> None:
    p["constraints"]["b"], p["constraints"]["c"] = p["constraints"]["c"], p["constraints"]["b"]


def _reorder(p: dict[str, Any]) -> None:
    for key in ("params", "constraints", "digests"):
        p[key] = dict(reversed(p[key].items()))


def _alias_storage(p: dict[str, Any]) -> None:
    # b and c hold equal values; a damaged storage key could make them share one.
    p["params"]["b"] = p["params"]["c"]


def _expanded_view(p: dict[str, Any]) -> None:
    # Equal values and digest, but a stride-0 view instead of a compact tensor.
    p["params"]["b"] = torch.zeros(()).expand(1)


def _requires_grad(p: dict[str, Any]) -> None:
    p["params"]["a"] = p["params"]["a"].clone().requires_grad_(True)


def _digest_text(p: dict[str, Any]) -> None:
    last = p["record_digest"][-1]
    p["record_digest"] = p["record_digest"][:-1] + ("1" if last == "0" else "0")


def _no_record_digest(p: dict[str, Any]) -> None:
    del p["record_digest"]


@pytest.mark.parametrize(
    "damage",
    [
        _rename_a,
        _drop_b,
        _c_into_b,
        _swap_constraints,
        _reorder,
        _alias_storage,
        _expanded_view,
        _requires_grad,
        _digest_text,
        _no_record_digest,
    ],
)
def test_load_damaged_record_refused_store_unchanged(damage: Any):
    # Damage that per-tensor digests cannot see, written as an intact archive.
    payload = _three()
    damage(payload)
    store = ParamStoreDict()
    store["keep"] = torch.tensor([7.0])
    with pytest.raises(ParamFileError, match="param-store file object") as info:
        store.load(_saved_payload(payload))
    assert "record digest" in str(info.value) or "expected keys" in str(info.value)
    assert store.keys() == ["keep"] and store["keep"].tolist() == [7.0]


def test_from_payload_names_source_in_errors():
    payload = _three()
    _drop_b(payload)
    with pytest.raises(ParamFileError, match=r"^param-store file 'x\.pt': the record digest"):
        from_payload(payload, "param-store file 'x.pt'")


def test_load_intact_three_param_record_loads_identically():
    store = ParamStoreDict()
    store.load(_saved_payload(_three()))
    assert store.keys() == ["a", "b", "c"]
    assert store.get_state()["constraints"]["c"] is constraints.positive


def test_load_file_saved_with_shared_leaf_loads():
    # One leaf under two names: saved once, the sharing is part of the record.
    store = ParamStoreDict()
    store["a"] = torch.ones(2)
    store._install("b", store["a"].unconstrained(), constraints.real)
    buffer = io.BytesIO()
    store.save(buffer)
    buffer.seek(0)
    loaded = ParamStoreDict()
    loaded.load(buffer)
    assert loaded["a"].tolist() == loaded["b"].tolist() == [1.0, 1.0]


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
