"""Runs torch.nn.LSTM/GRU/RNN on the cases the ONNX tests export, with TensorLoom's weights and inputs.

Usage: python3 torch_reference.py CASES.json OUT.json

CASES.json (written by test/torch.test.ts) holds, per case, the layer options, the state dict (PyTorch's
names) and the inputs; OUT.json receives torch's output, h_n (and c_n) for each, so the test can hold both
TensorLoom and ONNX Runtime against PyTorch. Lengths run through pack_padded_sequence, as PyTorch users do.
"""
import json
import sys

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def tensor(entry):
    return torch.tensor(entry["data"], dtype=torch.float32).reshape(entry["shape"])


def run(case):
    options = dict(
        input_size=case["inputSize"],
        hidden_size=case["hiddenSize"],
        num_layers=case["numLayers"],
        bias=case["bias"],
        batch_first=case["batchFirst"],
        bidirectional=case["bidirectional"],
    )
    kind = case["kind"]
    if kind == "LSTM":
        layer = torch.nn.LSTM(proj_size=case["projSize"], **options)
    elif kind == "GRU":
        layer = torch.nn.GRU(**options)
    else:
        layer = torch.nn.RNN(nonlinearity="relu" if kind == "RNN-relu" else "tanh", **options)
    layer.load_state_dict({k: tensor(v) for k, v in case["state"].items()}, strict=True)
    x = tensor(case["x"])
    h0 = tensor(case["h0"]) if case.get("h0") else None
    state = (h0, tensor(case["c0"])) if kind == "LSTM" and h0 is not None else h0
    lengths = case.get("lengths")
    with torch.no_grad():
        if lengths:
            packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=case["batchFirst"], enforce_sorted=False)
            out, final = layer(packed, state)
            total = x.shape[1] if case["batchFirst"] else x.shape[0]
            out, _ = pad_packed_sequence(out, batch_first=case["batchFirst"], total_length=total)
        else:
            out, final = layer(x, state)
    finals = list(final) if kind == "LSTM" else [final]
    return [{"shape": list(t.shape), "data": t.reshape(-1).tolist()} for t in [out, *finals]]


def main():
    torch.set_num_threads(1)
    with open(sys.argv[1]) as f:
        cases = json.load(f)["cases"]
    results = [{"name": c["name"], "outputs": run(c)} for c in cases]
    with open(sys.argv[2], "w") as f:
        json.dump({"torch": torch.__version__, "results": results}, f)


if __name__ == "__main__":
    main()
