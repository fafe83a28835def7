#!/usr/bin/python3
"""safetensors fixtures for @tensorloom/nn, with tensors made by PyTorch.

Run from anywhere with Debian's python3-torch:

    /usr/bin/python3 packages/nn/scripts/gen_safetensors_fixtures.py

It writes, under packages/nn/fixtures/ (all committed; the tests only read them):

- torch_dtypes.safetensors: F32, F64, F16 and BF16 tensors of several shapes (scalar, empty, matrices) and
  the edge values of each dtype (signed zeros, subnormals, extremes, infinities, NaN), plus a non-ASCII name;
- torch_mixed.safetensors: F32 and F64 tensors only, so the TypeScript writer can be held to produce the same
  bytes (it must order tensors by descending dtype size, then by name, as the reference writer does);
- torch_int32.safetensors: I32 tensors (the int32 edge values, ids past 2^24, a scalar and an empty tensor)
  beside F32 and F64 ones, read as int32 and written back byte for byte (I32 sorts after F32);
- torch_lstm.safetensors: the state_dict of a seeded torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
  in float32 (keys weight_ih_l0 ... bias_hh_l1_reverse), for @tensorloom/lstm to load;
- safetensors_expected.json: for each file, its metadata and every tensor's dtype, shape and flat row-major
  values as float64 (exact: every F16/BF16/F32 value is a float64), non-finite values as the strings
  "NaN", "Infinity", "-Infinity"; and an LSTM forward pass on a fixed input, in float32 and in float64.

Which writer: the `safetensors` Python package is not installed here (it is not packaged for Debian and
PyPI is unreachable), so this script carries a small writer that follows the format byte for byte as the
reference implementation (safetensors' Rust `serialize`) lays it out: tensors sorted by descending dtype
(F64, F32, I32, BF16, F16) then by name; compact JSON header with "__metadata__" first, then the tensors in data
order, each as {"dtype", "shape", "data_offsets"}; header padded with spaces to a multiple of 8 bytes; an
8-byte little-endian length; then each tensor's little-endian bytes as PyTorch holds them
(`tensor.numpy().tobytes()`; BF16, which numpy lacks, reinterpreted as int16 first).
"""

import json
import math
import struct
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "fixtures"

DTYPE_NAME = {
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int32: "I32",
    torch.float32: "F32",
    torch.float64: "F64",
}
# Position in the reference's Dtype enum (only relative order matters); the writer sorts by it, descending.
DTYPE_RANK = {"F16": 0, "BF16": 1, "I32": 2, "F32": 3, "F64": 4}


def raw_bytes(t):
    """The tensor's elements as contiguous little-endian bytes."""
    t = t.detach().contiguous().cpu()
    arr = t.view(torch.int16).numpy() if t.dtype == torch.bfloat16 else t.numpy()
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()


def serialize(tensors, metadata=None):
    """safetensors bytes for a dict of tensors, laid out as the reference writer does (see module doc)."""
    items = sorted(
        tensors.items(),
        # Names compare by UTF-8 bytes, as Rust's String ordering does.
        key=lambda kv: (-DTYPE_RANK[DTYPE_NAME[kv[1].dtype]], kv[0].encode("utf-8")),
    )
    header = {}
    if metadata is not None:
        header["__metadata__"] = dict(sorted(metadata.items()))
    chunks = []
    offset = 0
    for name, t in items:
        data = raw_bytes(t)
        header[name] = {
            "dtype": DTYPE_NAME[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def check(blob, tensors):
    """Reads the file back independently (torch.frombuffer) and compares bit for bit."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    data = blob[8 + n :]
    for name, t in tensors.items():
        info = header[name]
        begin, end = info["data_offsets"]
        chunk = bytearray(data[begin:end])
        if t.dtype == torch.bfloat16:
            back = torch.frombuffer(chunk, dtype=torch.int16).view(torch.bfloat16) if chunk else t.new_empty(0)
        else:
            back = torch.frombuffer(chunk, dtype=t.dtype) if chunk else t.new_empty(0)
        back = back.reshape(t.shape)
        assert list(back.shape) == list(t.shape)
        assert raw_bytes(back) == raw_bytes(t), name


def encode(x):
    """A float for JSON: exact repr for finite values (incl. -0.0), strings for the non-finite ones."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def describe(tensors, metadata):
    return {
        "metadata": metadata or {},
        "tensors": {
            name: {
                "dtype": DTYPE_NAME[t.dtype],
                "shape": list(t.shape),
                "values": [encode(v) for v in t.detach().to(torch.float64).reshape(-1).tolist()],
            }
            for name, t in tensors.items()
        },
    }


def flat(t):
    return [encode(v) for v in t.detach().to(torch.float64).reshape(-1).tolist()]


def main():
    torch.manual_seed(0)
    nan, inf = float("nan"), float("inf")

    dtypes = {
        "f32.matrix": torch.randn(2, 3),
        "f32.scalar": torch.tensor(-1.25),
        "f32.empty": torch.zeros(0, 3),
        # signed zeros, infinities, NaN, the smallest subnormal and the largest finite float32
        "f32.specials": torch.tensor([0.0, -0.0, inf, -inf, nan, 2.0**-149, 3.4028234663852886e38]),
        "f64.vector": torch.randn(4, dtype=torch.float64),
        "f64.cube": torch.randn(2, 2, 2, dtype=torch.float64),
        "f64.scalar": torch.tensor(math.pi, dtype=torch.float64),
        "f64.empty": torch.zeros(3, 0, 2, dtype=torch.float64),
        "f64.specials": torch.tensor([-0.0, inf, nan, 5e-324, 1.7976931348623157e308], dtype=torch.float64),
        "f16.matrix": torch.randn(3, 4).half(),
        "f16.scalar": torch.tensor(0.1, dtype=torch.float16),
        "f16.empty": torch.zeros(2, 0, dtype=torch.float16),
        # 0, -0, smallest subnormal 2^-24, largest subnormal 2^-14 - 2^-24, smallest normal 2^-14,
        # ±65504 (largest finite), ±inf, NaN, a rounded 1/3 and a negative subnormal
        "f16.specials": torch.tensor(
            [0.0, -0.0, 2.0**-24, 2.0**-14 - 2.0**-24, 2.0**-14, 65504.0, -65504.0, inf, -inf, nan, 1 / 3, -(2.0**-20)],
            dtype=torch.float16,
        ),
        "bf16.matrix": torch.randn(2, 3).bfloat16(),
        "bf16.scalar": torch.tensor(-3.0, dtype=torch.bfloat16),
        "bf16.empty": torch.zeros(0, dtype=torch.bfloat16),
        # 0, -0, smallest subnormal 2^-133, smallest normal 2^-126, largest finite, ±inf, NaN, a rounded 1/3
        "bf16.specials": torch.tensor(
            [0.0, -0.0, 2.0**-133, 2.0**-126, 3.3895313892515355e38, inf, -inf, nan, 1 / 3], dtype=torch.bfloat16
        ),
        "ünïcødé.wéight": torch.tensor([1.0, 2.0]),
    }
    dtypes_meta = {"format": "pt", "source": "gen_safetensors_fixtures.py"}

    mixed = {
        "b_f32": torch.randn(3),
        "a_f32": torch.randn(2, 2),
        "z_f64": torch.randn(2, dtype=torch.float64),
        "c_f64": torch.tensor(2.5, dtype=torch.float64),
    }
    mixed_meta = {"format": "pt", "note": "mixed F32/F64 layout check"}

    torch.manual_seed(1)
    lstm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    lstm_sd = {k: v.detach().clone() for k, v in lstm.state_dict().items()}
    lstm_meta = {"format": "pt"}
    x = torch.randn(5, 2, 3)  # (seq, batch, feature): batch_first=False, PyTorch's default
    with torch.no_grad():
        out32, (h32, c32) = lstm(x)
        lstm64 = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
        lstm64.load_state_dict({k: v.double() for k, v in lstm_sd.items()})
        out64, (h64, c64) = lstm64(x.double())

    int32 = {
        # 0, ±1, an id float32 would round (2^24 + 1), the int32 extremes
        "ids": torch.tensor([0, 1, -1, 2**24 + 1, 2**31 - 1, -(2**31)], dtype=torch.int32),
        "counts": torch.arange(6, dtype=torch.int32).reshape(2, 3),
        "scalar": torch.tensor(7, dtype=torch.int32),
        "empty": torch.zeros(0, 2, dtype=torch.int32),
        "weight": torch.tensor([1.5, -2.0]),
        "double": torch.tensor([0.25], dtype=torch.float64),
    }
    int32_meta = {"format": "pt", "note": "I32 beside F32 and F64"}

    files = {
        "torch_dtypes.safetensors": (dtypes, dtypes_meta),
        "torch_mixed.safetensors": (mixed, mixed_meta),
        "torch_int32.safetensors": (int32, int32_meta),
        "torch_lstm.safetensors": (lstm_sd, lstm_meta),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    expected = {
        "torch_version": torch.__version__,
        "writer": "spec writer in gen_safetensors_fixtures.py (safetensors package unavailable)",
        "files": {},
    }
    for filename, (tensors, meta) in files.items():
        blob = serialize(tensors, meta)
        check(blob, tensors)
        (OUT / filename).write_bytes(blob)
        expected["files"][filename] = describe(tensors, meta)

    expected["lstm_forward"] = {
        "module": "torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True), weights from torch_lstm.safetensors",
        "input_shape": list(x.shape),
        "input": flat(x),
        "float32": {"output": flat(out32), "h_n": flat(h32), "c_n": flat(c32)},
        "float64": {"output": flat(out64), "h_n": flat(h64), "c_n": flat(c64)},
        "output_shape": list(out32.shape),
        "state_shape": list(h32.shape),
    }
    with open(OUT / "safetensors_expected.json", "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, allow_nan=False)
        f.write("\n")
    print(f"wrote {', '.join(files)} and safetensors_expected.json to {OUT}")


if __name__ == "__main__":
    main()
