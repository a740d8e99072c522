"""The Open Inference Protocol's binary tensor data extension (Triton, KServe), and what V2 refuses.

A request with an ``Inference-Header-Content-Length: N`` header carries N bytes of JSON, then the raw
bytes of every input whose ``parameters.binary_data_size`` is set, in the order of ``inputs``:
little-endian, row major, no padding; ``BOOL`` one byte per element, ``BYTES`` each element as a
4-byte little-endian length and its bytes. :func:`read_document` puts the decoded values into each
such input as ``data``, so the rest of the service sees the same document as for JSON tensors.

An output asked for with ``parameters.binary_data: true`` (or every output, when the request's
``parameters.binary_data_output`` is true, which ``tritonclient`` sets when it names no outputs)
comes back the same way: ``parameters.binary_data_size`` in its JSON entry, its bytes after the
JSON, and the response's ``Inference-Header-Content-Length`` saying where the JSON ends.

Wrong framing is a 400 naming what is wrong (the header past the body, an input whose size does not
match its shape and datatype, bytes left over). V2 features this service does not implement (shared
memory, classification, sequences, scheduling parameters) are refused by name, never ignored.
"""

from __future__ import annotations

import json
import math
import re
import struct
from typing import Any

import numpy as np

from mlopsctl.serve.httpserver import Request, Response
from mlopsctl.serve.inputs import RequestError, parse_json

HEADER = "inference-header-content-length"
HEADER_NAME = "Inference-Header-Content-Length"
EXTENSION = "binary_tensor_data"
CONTENT_TYPE = "application/octet-stream"
DIGITS = re.compile(r"[0-9]{1,19}")
LENGTH = struct.Struct("<I")

NUMPY_TYPES = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
BINARY_TYPES = (*NUMPY_TYPES, "BYTES")

UNSUPPORTED_REQUEST = {
    "sequence_id": "the sequence extension",
    "sequence_start": "the sequence extension",
    "sequence_end": "the sequence extension",
    "priority": "the schedule policy extension",
    "timeout": "the schedule policy extension",
}
UNSUPPORTED_TENSOR = {
    "shared_memory_region": "the shared-memory extension",
    "shared_memory_byte_size": "the shared-memory extension",
    "shared_memory_offset": "the shared-memory extension",
    "classification": "the classification extension",
}


# --- requests --------------------------------------------------------------------------------


def refuse_encoding(request: Request) -> None:
    """A compressed body (``Content-Encoding: gzip``) is refused by name with 415."""
    encoding = request.headers.get("content-encoding")
    if encoding is not None and encoding.strip().lower() not in ("", "identity"):
        raise RequestError.one(415, f"Content-Encoding '{encoding}' is not supported: send the body uncompressed")


def read_document(request: Request) -> Any:
    """The V2 request's JSON, with binary inputs decoded into ``data``."""
    refuse_encoding(request)
    header = request.headers.get(HEADER)
    if header is None:
        return parse_json(request.body)
    json_bytes, blob = split_body(request.body, header)
    document = parse_json(json_bytes)
    attach_inputs(document, blob)
    return document


def split_body(body: bytes, header: str) -> tuple[bytes, bytes]:
    """The JSON part and the binary part of a body, as the header divides them."""
    if not DIGITS.fullmatch(header):
        raise RequestError.one(400, f"{HEADER_NAME} must be a number of bytes, got {header!r}")
    length = int(header)
    if length > len(body):
        raise RequestError.one(400, f"{HEADER_NAME} {length} is past the end of the {len(body)}-byte body")
    return body[:length], body[length:]


def attach_inputs(document: Any, blob: bytes) -> None:
    """Give each input with ``parameters.binary_data_size`` its values from ``blob``, in order."""
    inputs = document.get("inputs") if isinstance(document, dict) else None
    offset = 0
    for index, tensor in enumerate(inputs if isinstance(inputs, list) else []):
        size = binary_size(tensor, index)
        if size is None:
            continue
        name = tensor.get("name")
        if offset + size > len(blob):
            left = len(blob) - offset
            raise RequestError.one(
                400, f"input '{name}': binary_data_size {size} runs past the end of the body ({left} bytes left)"
            )
        tensor["data"] = decode(name, tensor.get("shape"), tensor.get("datatype"), blob[offset : offset + size])
        offset += size
    if offset != len(blob):
        raise RequestError.one(
            400, f"{len(blob) - offset} bytes after the JSON are not claimed by any input's binary_data_size"
        )


def binary_size(tensor: Any, index: int) -> int | None:
    """An input's ``parameters.binary_data_size``, checked; None for a JSON tensor."""
    parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
    if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
        return None
    name = tensor.get("name", f"inputs[{index}]")
    size = parameters["binary_data_size"]
    if type(size) is not int or size < 0:
        raise RequestError.one(400, f"input '{name}': binary_data_size must be a non-negative integer")
    if "data" in tensor:
        raise RequestError.one(400, f"input '{name}' has both data and binary_data_size: send one")
    return size


def decode(name: Any, shape: Any, datatype: Any, raw: bytes) -> list[Any]:
    """One input's binary data as plain values, after checking it fits its shape and datatype."""
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise RequestError.one(400, f"input '{name}': shape must be a list of non-negative integers")
    if datatype not in BINARY_TYPES:
        supported = ", ".join(BINARY_TYPES)
        raise RequestError.one(
            400, f"input '{name}': datatype {datatype!r} is not supported in binary data; use one of {supported}"
        )
    count = math.prod(shape)
    if datatype == "BYTES":
        return _decode_bytes(name, shape, count, raw)
    dtype = NUMPY_TYPES[datatype]
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise RequestError.one(
            400,
            f"input '{name}': binary_data_size {len(raw)} does not match shape {shape} x {datatype} ({expected} bytes)",
        )
    values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    return values


def _decode_bytes(name: Any, shape: list[int], count: int, raw: bytes) -> list[Any]:
    values: list[Any] = []
    offset = 0
    while offset < len(raw):
        if offset + LENGTH.size > len(raw):
            raise RequestError.one(400, f"input '{name}': BYTES data ends inside an element's length")
        (length,) = LENGTH.unpack_from(raw, offset)
        offset += LENGTH.size
        if offset + length > len(raw):
            raise RequestError.one(400, f"input '{name}': a BYTES element runs past its binary data")
        values.append(_text(name, raw[offset : offset + length]))
        offset += length
    if len(values) != count:
        raise RequestError.one(
            400, f"input '{name}': binary data holds {len(values)} BYTES elements, shape {shape} needs {count}"
        )
    return values


def _text(name: Any, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError.one(400, f"input '{name}': a BYTES element is not UTF-8 text") from None


def refuse_unsupported(document: dict[str, Any]) -> None:
    """V2 features this service does not implement, refused by name (400) rather than ignored."""
    _refuse_parameters(document.get("parameters"), UNSUPPORTED_REQUEST, "request")
    for kind in ("inputs", "outputs"):
        tensors = document.get(kind)
        for index, tensor in enumerate(tensors if isinstance(tensors, list) else []):
            if isinstance(tensor, dict):
                where = f"{kind[:-1]} '{tensor.get('name', f'{kind}[{index}]')}'"
                _refuse_parameters(tensor.get("parameters"), UNSUPPORTED_TENSOR, where)


def _refuse_parameters(parameters: Any, unsupported: dict[str, str], where: str) -> None:
    if not isinstance(parameters, dict):
        return
    for key, extension in unsupported.items():
        if key in parameters:
            raise RequestError.one(400, f"{where} parameter '{key}' ({extension}) is not supported by this service")


# --- responses -------------------------------------------------------------------------------


def binary_outputs(document: dict[str, Any], names: list[str]) -> set[str]:
    """Which of ``names`` go back as binary data: asked per output, else the request's default."""
    parameters = document.get("parameters")
    default = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    asked = {o["name"]: o.get("parameters") for o in document.get("outputs") or []}
    chosen = set()
    for name in names:
        flag = asked[name].get("binary_data") if isinstance(asked.get(name), dict) else None
        if flag is True or (flag is None and default):
            chosen.add(name)
    return chosen


def encode(values: np.ndarray[Any, Any], datatype: str) -> bytes:
    """An output tensor's values as the extension's raw bytes."""
    if datatype == "BYTES":
        parts = [str(v).encode("utf-8") for v in values.tolist()]
        return b"".join(LENGTH.pack(len(p)) + p for p in parts)
    return np.ascontiguousarray(values, dtype=NUMPY_TYPES[datatype]).tobytes()


def response(document: dict[str, Any], blobs: list[bytes], headers: list[tuple[str, str]] | None = None) -> Response:
    """A 200 whose JSON is followed by the binary outputs, with the header saying where the JSON ends."""
    head = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
    extra = [*(headers or []), (HEADER_NAME, str(len(head)))]
    return Response(200, head + b"".join(blobs), content_type=CONTENT_TYPE, headers=extra)
