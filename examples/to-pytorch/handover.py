"""PyTorch's side of the hand-over: TensorLoom → PyTorch → TensorLoom.

Usage: python3 handover.py OUT_DIR   (run by `npx pnpm@12.4.2 --filter to-pytorch start`, which writes OUT_DIR)

1. Builds the same model in torch.nn (Embedding → 2-layer LSTM → Linear, fields embed/lstm/head), loads
   TensorLoom's weights (OUT_DIR/tensorloom.safetensors) with strict=True, and checks its logits on the check
   batch against TensorLoom's to 1e-5.
2. Trains on with Adam over the batches TensorLoom wrote, and saves its weights (OUT_DIR/pytorch.safetensors).
3. From those weights, takes plain SGD steps over the resume batches and records each loss
   (OUT_DIR/pytorch.json), which TensorLoom must reproduce after loading the file.

Safetensors files are read and written here from the format's specification (8-byte little-endian header
length, JSON header of dtype/shape/data_offsets, then the raw little-endian bytes), because the reference
`safetensors` Python package is not installable on this project's machines. Untrusted input is validated:
header size, JSON shape, known dtypes, offsets that tile the data exactly.

Needs only torch (Debian's python3-torch; torch 1.13 or later).
"""
import json
import math
import struct
import sys
from pathlib import Path

import torch

MAX_HEADER = 100_000_000
DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
}
NAMES = {v: k for k, v in DTYPES.items()}


class SafetensorsError(ValueError):
    pass


def read_safetensors(path):
    """Returns (tensors by name, metadata dict) of a safetensors file, validating it against the spec."""
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise SafetensorsError(f"{path}: {len(data)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise SafetensorsError(f"{path}: header length {n} exceeds the file ({len(data)} bytes) or {MAX_HEADER}")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header must be a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise SafetensorsError(f"{path}: __metadata__ must map strings to strings")
    body = data[8 + n :]
    if sys.byteorder != "little":
        raise SafetensorsError("this reader assumes a little-endian machine, as safetensors data is little-endian")
    spans, tensors = [], {}
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{path}: entry {name!r} must have exactly dtype, shape and data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES:
            raise SafetensorsError(f"{path}: {name!r} has dtype {dtype!r}, expected one of {sorted(DTYPES)}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise SafetensorsError(f"{path}: {name!r} has shape {shape!r}, expected non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise SafetensorsError(f"{path}: {name!r} has data_offsets {offsets!r}, expected [begin, end]")
        begin, end = offsets
        size = math.prod(shape) * torch.tensor([], dtype=DTYPES[dtype]).element_size()
        if not 0 <= begin <= end <= len(body) or end - begin != size:
            raise SafetensorsError(
                f"{path}: {name!r} spans bytes [{begin}, {end}) of {len(body)}, but {dtype} {shape} needs {size}"
            )
        spans.append((begin, end, name))
        raw = bytearray(body[begin:end])
        t = torch.frombuffer(raw, dtype=DTYPES[dtype]) if size else torch.empty(0, dtype=DTYPES[dtype])
        tensors[name] = t.reshape(shape)
    # The spec requires the entries to tile the data buffer: no holes, no overlaps.
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise SafetensorsError(f"{path}: {name!r} starts at byte {begin}, expected {position} (hole or overlap)")
        position = end
    if position != len(body):
        raise SafetensorsError(f"{path}: {len(body) - position} bytes after the last tensor")
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes tensors (and string metadata) as safetensors: header padded with spaces to 8 bytes, then data."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    # Larger elements first, so every tensor starts aligned to its element size.
    for name in sorted(tensors, key=lambda k: (-tensors[k].element_size(), k)):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


class CharLSTM(torch.nn.Module):
    """TensorLoom's CharLSTM in torch.nn: same fields, so the same state-dict names."""

    def __init__(self, vocab, embed, hidden, layers):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, embed)
        self.lstm = torch.nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, ids):
        h, _ = self.lstm(self.embed(ids))
        return self.head(h)


def batch_loss(model, batch):
    """Mean next-character cross-entropy of windows [B, T + 1], as TensorLoom's `loss`."""
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def main():
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    weights, _ = read_safetensors(out / "tensorloom.safetensors")
    data, meta = read_safetensors(out / "data.safetensors")
    config = json.loads(meta["config"])
    model = CharLSTM(config["vocab"], config["embed"], config["hidden"], config["layers"])
    model.load_state_dict(weights, strict=True)

    # 1. Same logits as TensorLoom's.
    with torch.no_grad():
        logits = model(data["check"].long())
    error = (logits - data["logits"]).abs().max().item()
    print(f"PyTorch {torch.__version__}: loaded TensorLoom's weights with strict=True; max |logits gap| {error:.1e}")
    if not error <= 1e-5:
        sys.exit(f"logits differ from TensorLoom's by {error:.3e} (> 1e-5)")

    # 2. Train on.
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    train_losses = []
    for batch in data["train"].long():
        loss = batch_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        train_losses.append(loss.item())
    print(f"PyTorch: {len(train_losses)} Adam steps, loss {train_losses[0]:.4f} → {train_losses[-1]:.4f}")
    write_safetensors(out / "pytorch.safetensors", model.state_dict())

    # 3. The steps TensorLoom will take from these weights, loss for loss.
    sgd = torch.optim.SGD(model.parameters(), lr=config["resumeLr"])
    resume_losses = []
    for batch in data["resume"].long():
        loss = batch_loss(model, batch)
        sgd.zero_grad()
        loss.backward()
        sgd.step()
        resume_losses.append(loss.item())
    print(f"PyTorch: SGD from its saved weights, losses {', '.join(f'{l:.5f}' for l in resume_losses)}")
    report = {
        "torch": torch.__version__,
        "logitsMaxError": error,
        "trainLosses": train_losses,
        "resumeLosses": resume_losses,
    }
    (out / "pytorch.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
