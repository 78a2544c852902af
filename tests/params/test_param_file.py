"""Reading param-store files: every damaged byte refused or harmless, no code run,
every failure a ParamFileError naming the file."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.distributions import constraints
from torch.distributions.constraints import Constraint

from tracegraph.errors import (
    MalformedParamFileError,
    ParamFileError,
    SiteError,
    TruncatedParamFileError,
    UnsafeParamFileError,
)
from tracegraph.params import ParamStoreDict
from tracegraph.params import param_file as param_file_module
from tracegraph.params.constrained_value import _UnconstrainedRef
from tracegraph.params.state_format import to_payload

MASKS = (0x01, 0x80, 0xFF)


def _original() -> ParamStoreDict:
    # The reproduction: an unconstrained param, a unit_interval one and
    # a positive one (a file of about 2.5 KB).
    store = ParamStoreDict()
    store.setdefault("a", torch.tensor([0.5, -1.25, 3.0]))
    store.setdefault("b", torch.tensor([0.25, 0.5]), constraints.unit_interval)
    store.setdefault("c", torch.tensor([2.0, 0.125]), constraints.positive)
    return store


def _saved(store: ParamStoreDict) -> bytes:
    buffer = io.BytesIO()
    store.save(buffer)
    return buffer.getvalue()


ORIGINAL = _original()
SAVED = _saved(ORIGINAL)
EXPECTED: list[tuple[str, torch.Tensor, Constraint]] = [
    (name, leaf.detach().clone(), ORIGINAL.get_state()["constraints"][name])
    for name, leaf in ORIGINAL.named_parameters()
]


def _bits(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().contiguous().view(torch.int32)  # float32: exact bit patterns


def _problems_after_load(file: Any, source: str) -> tuple[str, list[str]]:
    """Load into a store holding ``keep``: ``"refused: <message>"`` or
    ``"loaded"``, and what is wrong, if anything.

    Right is: refused with a ParamFileError naming ``source``, store unchanged;
    or loaded with exactly the original names (in order), constraints and
    unconstrained bits. Any other exception propagates and fails the test.
    """
    store = ParamStoreDict()
    store["keep"] = torch.tensor([7.0])
    try:
        store.load(file)
    except ParamFileError as exc:
        problems = [] if source in str(exc) else [f"message names no file: {exc}"]
        if store.keys() != ["keep"] or store["keep"].tolist() != [7.0]:
            problems.append(f"refused but the store changed: {store.keys()}")
        return f"refused: {exc}", problems
    if store.keys() != ["keep"] + [name for name, _, _ in EXPECTED]:
        return "loaded", [f"loaded other names: {store.keys()}"]
    got = store.get_state()
    problems = []
    for name, value, constraint in EXPECTED:
        if got["constraints"][name] is not constraint:
            problems.append(f"{name}: constraint {got['constraints'][name]!r}")
        tensor = got["params"][name]
        if tensor.shape != value.shape or tensor.dtype != value.dtype:
            problems.append(f"{name}: {tensor.dtype} {tuple(tensor.shape)}")
        elif not torch.equal(_bits(tensor), _bits(value)):
            problems.append(f"{name}: values {tensor.tolist()}")
    return "loaded", problems


def _flip(data: bytes, position: int, mask: int) -> bytes:
    damaged = bytearray(data)
    damaged[position] ^= mask
    return bytes(damaged)


class _NamedBytes(io.BytesIO):
    # An in-memory file with a name (opening 7,800 real files would take longer
    # than loading them); read_file names a file object by its ``name``.
    name = "damaged.pt"


def test_load_every_flipped_byte_refused_naming_file_or_identical():
    # Exhaustive: every offset of the file times three masks (about 7,800 files,
    # a few seconds). Each load either refuses with ParamFileError naming the
    # file and leaves the store alone, or -- where the byte is one nothing reads
    # (zip padding, timestamps, CRCs of the tensor records) -- loads exactly the
    # original contents. Nothing in between, and no other exception type.
    assert 2000 < len(SAVED) < 3000
    failures: dict[tuple[int, int], list[str]] = {}
    outcomes = {"refused": 0, "loaded": 0}
    for position in range(len(SAVED)):
        for mask in MASKS:
            damaged = _NamedBytes(_flip(SAVED, position, mask))
            outcome, problems = _problems_after_load(damaged, "'damaged.pt'")
            outcomes[outcome.split(":")[0]] += 1
            if problems:
                failures[(position, mask)] = problems
    assert failures == {}
    # Most damage is refused; what loads is bytes nothing reads.
    assert outcomes["refused"] > outcomes["loaded"] > 0


def _records(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _rezip(records: dict[str, bytes]) -> bytes:
    # A fresh archive with correct CRCs: damage that happened before the zip
    # was written (or a copier that recomputed CRCs) gets past the zip layer,
    # so what stops it is the scan of the pickle and the digests.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in records.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_load_every_flipped_pickle_byte_with_valid_crc_refused_or_identical():
    records = _records(SAVED)
    (pickle_name,) = [name for name in records if name.endswith("/data.pkl")]
    pickled = records[pickle_name]
    failures = {}
    record_digest_refusals = 0
    for position in range(len(pickled)):
        for mask in MASKS:
            data = _rezip({**records, pickle_name: _flip(pickled, position, mask)})
            outcome, problems = _problems_after_load(io.BytesIO(data), "object")
            if problems:
                failures[(position, mask)] = problems
            record_digest_refusals += "record digest" in outcome
    assert failures == {}
    # Renamed keys, dropped or swapped entries do occur here, and only the record
    # digest sees them.
    assert record_digest_refusals > 0


def _data_start(data: bytes, suffix: str) -> int:
    # Where the bytes of the archive entry ending in ``suffix`` start.
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        (info,) = [info for info in archive.infolist() if info.filename.endswith(suffix)]
    header = data[info.header_offset : info.header_offset + 30]
    name_len, extra_len = (int.from_bytes(header[i : i + 2], "little") for i in (26, 28))
    return info.header_offset + 30 + name_len + extra_len


@pytest.mark.parametrize("where", ["magic", "pickle", "tensor"])
def test_load_flipped_byte_path_named(tmp_path: Path, where: str):
    position = {
        "magic": 0,
        "pickle": _data_start(SAVED, "/data.pkl") + 40,
        "tensor": _data_start(SAVED, "/data/0") + 2,
    }[where]
    path = tmp_path / "on-disk.pt"
    path.write_bytes(_flip(SAVED, position, 0xFF))
    with pytest.raises(ParamFileError, match=r"param-store file '.*on-disk\.pt'"):
        ParamStoreDict().load(path)


def test_load_intact_rezipped_file_loads():
    data = _rezip(_records(SAVED))
    assert _problems_after_load(io.BytesIO(data), "") == ("loaded", [])


class _Marker:
    """Constructing one records it: stands in for code a file could run."""

    made: list[str] = []

    def __init__(self, tag: str) -> None:
        _Marker.made.append(tag)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_Marker, ("constructed",))


def test_load_class_allowlisted_by_process_still_refused_unconstructed(tmp_path: Path):
    # torch.load(weights_only=True) constructs any class the process allowlisted;
    # the param-store loader refuses it before torch.load sees the file.
    path = tmp_path / "marked.pt"
    payload = to_payload({"a": torch.zeros(1)}, {"a": constraints.real})
    payload["constraints"]["a"] = {"name": _Marker("saving")}
    torch.save(payload, path)
    _Marker.made.clear()
    store = ParamStoreDict()
    with torch.serialization.safe_globals([_Marker]):
        with pytest.raises(UnsafeParamFileError, match=r"'.*marked\.pt' pickles the global"):
            store.load(path)
        assert _Marker.made == [] and len(store) == 0
        torch.load(path, weights_only=True)  # the detector works
    assert _Marker.made == ["constructed"]
    _Marker.made.clear()


def test_load_project_allowlisted_class_refused():
    # tracegraph itself allowlists _UnconstrainedRef for torch.load's default;
    # a param-store file never holds one, so the loader refuses it.
    payload = to_payload({"a": torch.zeros(1)}, {"a": constraints.real})
    payload["digests"] = {"a": _UnconstrainedRef(torch.zeros(1))}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with pytest.raises(UnsafeParamFileError, match="_UnconstrainedRef") as info:
        ParamStoreDict().load(io.BytesIO(buffer.getvalue()))
    assert isinstance(info.value, pickle.UnpicklingError)


def test_load_other_pickle_protocol_refused():
    buffer = io.BytesIO()
    torch.save(to_payload({"a": torch.zeros(1)}, {"a": constraints.real}), buffer,
               pickle_protocol=4)  # fmt: skip
    with pytest.raises(UnsafeParamFileError, match="protocol 4"):
        ParamStoreDict().load(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize(
    "error",
    [
        TypeError("_rebuild_tensor_v3() missing 1 required positional argument: 'dtype'"),
        AssertionError("saved_id must be a tuple, got int"),
        AttributeError("'str' object has no attribute 'dtype'"),
        MemoryError(),
        RecursionError("maximum recursion depth exceeded"),
    ],
)
def test_load_unexpected_exception_becomes_param_file_error_naming_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
):
    # The raw errors the red team saw, raised where torch.load runs.
    path = tmp_path / "odd.pt"
    path.write_bytes(SAVED)

    def failing_load(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(param_file_module.torch, "load", failing_load)
    store = ParamStoreDict()
    store["keep"] = torch.ones(1)
    with pytest.raises(ParamFileError, match=r"'.*odd\.pt'") as info:
        store.load(path)
    assert info.value.__cause__ is error
    assert store.keys() == ["keep"]


def test_load_unexpected_payload_object_becomes_param_file_error(monkeypatch: pytest.MonkeyPatch):
    payload = to_payload({"a": torch.zeros(1)}, {"a": constraints.real})
    payload["constraints"]["a"] = {"name": object()}  # what no file could hold
    monkeypatch.setattr(param_file_module.torch, "load", lambda *a, **k: payload)
    with pytest.raises(ParamFileError, match="unexpected object of type object"):
        ParamStoreDict().load(io.BytesIO(SAVED))


def test_load_text_file_object_refused():
    with pytest.raises(ParamFileError, match="not a binary file object"):
        ParamStoreDict().load(io.StringIO("text"))  # type: ignore[arg-type]


def test_load_missing_path_is_file_not_found(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        ParamStoreDict().load(tmp_path / "absent.pt")


def test_load_directory_refused_naming_it(tmp_path: Path):
    with pytest.raises(ParamFileError, match="cannot be opened"):
        ParamStoreDict().load(tmp_path)


def test_load_zip_magic_prefix_is_truncated(tmp_path: Path):
    path = tmp_path / "cut.pt"
    path.write_bytes(SAVED[:2])
    with pytest.raises(TruncatedParamFileError, match=r"'.*cut\.pt' ends after 2 bytes"):
        ParamStoreDict().load(path)


def test_load_foreign_plain_dict_is_malformed_site_error():
    buffer = io.BytesIO()
    torch.save({"params": {"a": torch.zeros(1)}}, buffer)
    with pytest.raises(MalformedParamFileError, match="no 'format' marker") as info:
        ParamStoreDict().load(io.BytesIO(buffer.getvalue()))
    assert isinstance(info.value, SiteError)


def test_save_then_load_from_file_object_position(tmp_path: Path):
    # A file object is read from its position: a header before the archive is skipped.
    buffer = io.BytesIO(b"header" + SAVED)
    buffer.seek(6)
    store = ParamStoreDict()
    store.load(buffer)
    assert store.keys() == ["a", "b", "c"]
