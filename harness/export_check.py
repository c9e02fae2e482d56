"""Checks an `lra export` archive with plain numpy.load against the checkpoint it came from.

    python3 harness/export_check.py RUN.npz RUN/best.ckpt [ZIP64.npz]

The checkpoint is read here independently of lra's C++ code: the framing of core/checkpoint.h
("LRACKPT1", uint64 payload length, payload, CRC32C) and the protobuf wire format of
core/checkpoint.proto (params = field 2, buffers = field 5; TensorProto name = 1, shape = 2,
dtype = 3, data = 4). Every parameter and buffer must be in the archive under its name, with its
shape (complex64 tensors as float32 [..., 2]) and bit-identical values, and __meta__.json must
list exactly those arrays. The optional third archive is core/base:npz_write_example's
ZIP64-forced one. Exits non-zero with a message on the first difference.
"""
import json
import struct
import sys

import numpy as np


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def fields(buf):
    """Yields (field number, wire type, value) of one protobuf message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def tensor(buf):
    name, shape, dtype, data = "", [], 0, b""
    for number, wire, value in fields(buf):
        if number == 1:
            name = bytes(value).decode()
        elif number == 2 and wire == 2:  # packed
            j = 0
            while j < len(value):
                d, j = varint(value, j)
                shape.append(d)
        elif number == 2:
            shape.append(value)
        elif number == 3:
            dtype = value
        elif number == 4:
            data = bytes(value)
    if dtype == 1:  # complex64: the export's float32 [..., 2]
        shape = shape + [2]
    elif dtype != 0:
        raise ValueError(f"{name}: unknown dtype {dtype}")
    return name, np.frombuffer(data, dtype="<f4").reshape(shape)


def read_checkpoint(path):
    raw = open(path, "rb").read()
    if raw[:8] != b"LRACKPT1":
        raise ValueError(f"{path}: not an lra checkpoint")
    (length,) = struct.unpack("<Q", raw[8:16])
    params, buffers = {}, {}
    for number, _, value in fields(memoryview(raw)[16:16 + length]):
        if number in (2, 5):
            name, array = tensor(value)
            (params if number == 2 else buffers)[name] = array
    return params, buffers


def fail(message):
    print("export_check: " + message, file=sys.stderr)
    sys.exit(1)


def check_export(npz_path, ckpt_path):
    params, buffers = read_checkpoint(ckpt_path)
    if not params:
        fail(f"{ckpt_path} has no parameters")
    npz = np.load(npz_path)  # numpy's defaults: allow_pickle=False
    names = sorted(set(npz.files) - {"__meta__.json"})
    expected = {**params, **buffers}
    if names != sorted(expected):
        fail(f"names differ:\n  archive only: {sorted(set(names) - set(expected))}\n"
             f"  checkpoint only: {sorted(set(expected) - set(names))}")
    for name, want in expected.items():
        got = npz[name]
        if got.dtype != np.float32 or got.shape != want.shape:
            fail(f"{name}: archive {got.dtype}{got.shape}, checkpoint float32{want.shape}")
        if got.tobytes() != want.tobytes():
            fail(f"{name}: values differ")
    meta = json.loads(npz["__meta__.json"])
    listed = {a["name"]: a for a in meta["arrays"]}
    if sorted(listed) != names:
        fail("__meta__.json arrays do not list exactly the archive's arrays")
    for name, a in listed.items():
        kind = "parameter" if name in params else "buffer"
        if tuple(a["shape"]) != expected[name].shape or a["kind"] != kind:
            fail(f"__meta__.json entry {a} does not match the checkpoint")
    for key in ("format", "run", "checkpoint", "step", "model", "model_options", "task",
                "groups", "config"):
        if key not in meta:
            fail(f"__meta__.json has no {key!r}")
    if meta["config"]["model"] != meta["model"]:
        fail("__meta__.json config.model differs from model")
    print(f"{npz_path}: {len(names)} arrays ({len(params)} parameters, {len(buffers)} buffers) "
          f"match {ckpt_path}; model {meta['model']}, step {meta['step']}")


def check_zip64(path):
    """The archive npz_write_example writes with every ZIP64 record forced."""
    npz = np.load(path)
    want = {
        "scalar": np.float32(0.5),
        "matrix": np.arange(6, dtype=np.float32).reshape(2, 3),
        "complex": np.array([[1, -1], [0.25, 2]], dtype=np.float32),
    }
    if sorted(npz.files) != sorted(list(want) + ["__meta__.json"]):
        fail(f"{path}: members {npz.files}")
    for name, value in want.items():
        got = npz[name]
        if got.dtype != np.float32 or got.shape != np.shape(value) or not np.array_equal(got, value):
            fail(f"{path}: {name} is {got!r}, want {value!r}")
    if json.loads(npz["__meta__.json"]) != {"zip64": True}:
        fail(f"{path}: __meta__.json")
    print(f"{path}: ZIP64 archive reads back with numpy {np.__version__}")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        fail(__doc__)
    check_export(sys.argv[1], sys.argv[2])
    if len(sys.argv) == 4:
        check_zip64(sys.argv[3])
