"""``save`` and ``load``: state dicts (and nested dicts/lists of tensors and numbers) in a file
that never needs unpickling, so opening a stranger's file cannot run code.

The format is a numpy ``.npz`` archive: every tensor is an array entry, and one JSON entry
describes the structure. Loading uses ``allow_pickle=False``.
"""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from .nn.parameter import Parameter
from .tensor import Tensor

_MAGIC = "autogradkit-save-v1"


class UnsafeOrCorruptFileError(ValueError):
    pass


def _encode(obj, arrays):
    if isinstance(obj, Tensor):
        key = f"t{len(arrays)}"
        arrays[key] = obj.detach().cpu().numpy()
        return {"__tensor__": key, "requires_grad": bool(obj.requires_grad),
                "parameter": type(obj).__name__ == "Parameter"}
    if isinstance(obj, dict):
        return {"__dict__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__" if isinstance(obj, list) else "__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"save: can't store a {type(obj).__name__}; save stores tensors, numbers, "
                    "strings, None, and dicts/lists/tuples of them (e.g. model.state_dict())")


def _decode(obj, arrays):
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            t = Tensor(arrays[obj["__tensor__"]])
            if obj.get("parameter"):
                return Parameter(t, requires_grad=obj.get("requires_grad", True))
            return t.requires_grad_(True) if obj.get("requires_grad") else t
        if "__dict__" in obj:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            return [_decode(v, arrays) for v in obj["__list__"]]
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        raise UnsafeOrCorruptFileError("load: the file's structure is not one autogradkit wrote")
    return obj


def save(obj, f):
    """Write ``obj`` (e.g. ``model.state_dict()``) to a path or a binary file object."""
    arrays = {}
    structure = _encode(obj, arrays)
    arrays["__autogradkit__"] = np.frombuffer(json.dumps({"magic": _MAGIC, "data": structure})
                                              .encode(), dtype=np.uint8)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:      # np.savez(path) would append ".npz" to a path like "model.pt"
            np.savez(fh, **arrays)
    else:
        np.savez(f, **arrays)


def load(f, map_location=None):
    """Read what ``save`` wrote. Never unpickles; a file that isn't ours gives a clear error."""
    name = getattr(f, "name", f)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:      # a missing file is a FileNotFoundError, as in PyTorch
            return _load(fh, name, map_location)
    return _load(f, name, map_location)


def _load(f, name, map_location):
    pos = f.tell()
    head = f.read(4)
    f.seek(pos)
    if head[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):   # np.load would treat it as a pickle or .npy
        if head[:1] == b"\x80":
            raise UnsafeOrCorruptFileError(
                f"load: {name} looks like a pickle, which could run code when opened; autogradkit "
                "refuses to load it. Only load files written by autogradkit.save.")
        raise UnsafeOrCorruptFileError(
            f"load: {name} is not a file written by autogradkit.save (not an .npz archive)")
    try:
        with np.load(f, allow_pickle=False) as z:
            if "__autogradkit__" not in z.files:
                raise UnsafeOrCorruptFileError(
                    f"load: {name} is not a file written by autogradkit.save (no header found)")
            header = json.loads(bytes(z["__autogradkit__"]).decode())
            arrays = {k: z[k] for k in z.files if k != "__autogradkit__"}
    except UnsafeOrCorruptFileError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise UnsafeOrCorruptFileError(
                f"load: {name} contains pickled objects, which could run code when opened; "
                "autogradkit refuses to load them. Only load files written by autogradkit.save.") from None
        raise UnsafeOrCorruptFileError(f"load: {name} is not a valid autogradkit file ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnsafeOrCorruptFileError(
            f"load: {name} is not a valid autogradkit file (corrupt or another format: {exc})") from None
    if not isinstance(header, dict) or header.get("magic") != _MAGIC:
        raise UnsafeOrCorruptFileError(f"load: {name} is not a file written by autogradkit.save")
    try:
        obj = _decode(header["data"], arrays)
    except UnsafeOrCorruptFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsafeOrCorruptFileError(f"load: {name} is corrupt (its header doesn't match its "
                                       f"arrays: {exc!r})") from None
    if map_location is not None:
        obj = _move(obj, map_location)
    return obj


def _move(obj, device):
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _move(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_move(v, device) for v in obj)
    return obj
