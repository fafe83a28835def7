"""Golden fixtures for @tensorloom/lstm, computed by PyTorch in float64.

For every case: the module's state_dict, the input (and initial state when given), the outputs and final
states, a random cotangent for each of them, and the gradients of
    L = sum(output * gOutput) + sum(hN * gH) [+ sum(cN * gC)]
with respect to the input, the initial state and every parameter.

Variable lengths go through pack_padded_sequence(enforce_sorted=False) -> module -> pad_packed_sequence
with total_length = T, which is what `forward(x, state, { lengths })` promises to match.

Run:  /usr/bin/python3 packages/lstm/scripts/gen_fixtures.py   (writes packages/lstm/fixtures/*.json)
"""

import json
import os

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


def enc(t):
    """A tensor as {shape, data} with exact float64 values (json writes floats with repr)."""
    t = t.detach().to(torch.float64).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def layer_case(name, kind, seed, T, B, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
               bidirectional=False, proj_size=0, nonlinearity="tanh", lengths=None, given_state=False):
    torch.manual_seed(seed)
    options = dict(inputSize=input_size, hiddenSize=hidden_size, numLayers=num_layers, bias=bias,
                   batchFirst=batch_first, bidirectional=bidirectional)
    if kind == "LSTM":
        module = torch.nn.LSTM(input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
                               bidirectional=bidirectional, proj_size=proj_size)
        options["projSize"] = proj_size
    elif kind == "GRU":
        module = torch.nn.GRU(input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
                              bidirectional=bidirectional)
    else:
        module = torch.nn.RNN(input_size, hidden_size, num_layers, nonlinearity=nonlinearity, bias=bias,
                              batch_first=batch_first, bidirectional=bidirectional)
        options["nonlinearity"] = nonlinearity
    module = module.double()
    D = 2 if bidirectional else 1
    h_size = proj_size if proj_size > 0 else hidden_size
    x = torch.randn(*((B, T, input_size) if batch_first else (T, B, input_size)), requires_grad=True)
    h0 = c0 = None
    if given_state:
        h0 = torch.randn(num_layers * D, B, h_size, requires_grad=True)
        if kind == "LSTM":
            c0 = torch.randn(num_layers * D, B, hidden_size, requires_grad=True)
    state = (h0, c0) if kind == "LSTM" and given_state else h0

    inp = x
    if lengths is not None:
        inp = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    out, final = module(inp, state)
    if lengths is not None:
        out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    hn, cn = final if kind == "LSTM" else (final, None)

    g_out = torch.randn_like(out)
    g_h = torch.randn_like(hn)
    loss = (out * g_out).sum() + (hn * g_h).sum()
    g_c = None
    if cn is not None:
        g_c = torch.randn_like(cn)
        loss = loss + (cn * g_c).sum()
    loss.backward()

    case = {
        "name": name,
        "kind": kind,
        "options": options,
        "stateDict": {k: enc(v) for k, v in module.state_dict().items()},
        "input": enc(x),
        "output": enc(out),
        "hN": enc(hn),
        "gOutput": enc(g_out),
        "gH": enc(g_h),
        "grads": {
            "input": enc(x.grad),
            "params": {k: enc(p.grad) for k, p in module.named_parameters()},
        },
    }
    if lengths is not None:
        case["lengths"] = lengths
    if cn is not None:
        case["cN"] = enc(cn)
        case["gC"] = enc(g_c)
    if given_state:
        case["h0"] = enc(h0)
        case["grads"]["h0"] = enc(h0.grad)
        if c0 is not None:
            case["c0"] = enc(c0)
            case["grads"]["c0"] = enc(c0.grad)
    return case


def cell_case(name, kind, seed, B, input_size, hidden_size, bias=True, nonlinearity="tanh", given_state=False,
              steps=1):
    """A cell applied `steps` times to a random input sequence (the state threads through)."""
    torch.manual_seed(seed)
    options = dict(inputSize=input_size, hiddenSize=hidden_size, bias=bias)
    if kind == "LSTMCell":
        cell = torch.nn.LSTMCell(input_size, hidden_size, bias=bias)
    elif kind == "GRUCell":
        cell = torch.nn.GRUCell(input_size, hidden_size, bias=bias)
    else:
        cell = torch.nn.RNNCell(input_size, hidden_size, bias=bias, nonlinearity=nonlinearity)
        options["nonlinearity"] = nonlinearity
    cell = cell.double()
    xs = torch.randn(steps, B, input_size, requires_grad=True)
    h0 = c0 = None
    if given_state:
        h0 = torch.randn(B, hidden_size, requires_grad=True)
        if kind == "LSTMCell":
            c0 = torch.randn(B, hidden_size, requires_grad=True)
    state = ((h0, c0) if kind == "LSTMCell" else h0) if given_state else None
    for t in range(steps):
        state = cell(xs[t], state)
    h, c = state if kind == "LSTMCell" else (state, None)
    g_h = torch.randn_like(h)
    loss = (h * g_h).sum()
    g_c = None
    if c is not None:
        g_c = torch.randn_like(c)
        loss = loss + (c * g_c).sum()
    loss.backward()
    case = {
        "name": name,
        "kind": kind,
        "options": options,
        "steps": steps,
        "stateDict": {k: enc(v) for k, v in cell.state_dict().items()},
        "input": enc(xs),
        "hN": enc(h),
        "gH": enc(g_h),
        "grads": {"input": enc(xs.grad), "params": {k: enc(p.grad) for k, p in cell.named_parameters()}},
    }
    if c is not None:
        case["cN"] = enc(c)
        case["gC"] = enc(g_c)
    if given_state:
        case["h0"] = enc(h0)
        case["grads"]["h0"] = enc(h0.grad)
        if c0 is not None:
            case["c0"] = enc(c0)
            case["grads"]["c0"] = enc(c0.grad)
    return case


def write(filename, cases):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, filename), "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)
        f.write("\n")
    print(f"{filename}: {len(cases)} cases")


def main():
    lstm = [
        layer_case("lstm basic", "LSTM", 1, T=4, B=3, input_size=3, hidden_size=2),
        layer_case("lstm given state", "LSTM", 2, T=3, B=2, input_size=2, hidden_size=3, given_state=True),
        layer_case("lstm 2 layers bidirectional", "LSTM", 3, T=3, B=2, input_size=2, hidden_size=2,
                   num_layers=2, bidirectional=True, given_state=True),
        layer_case("lstm batchFirst", "LSTM", 4, T=3, B=2, input_size=3, hidden_size=2, batch_first=True),
        layer_case("lstm no bias", "LSTM", 5, T=3, B=2, input_size=2, hidden_size=2, bias=False, given_state=True),
        layer_case("lstm projection", "LSTM", 6, T=3, B=2, input_size=2, hidden_size=3, proj_size=2,
                   given_state=True),
        layer_case("lstm projection 2 layers bidirectional", "LSTM", 7, T=3, B=2, input_size=2, hidden_size=3,
                   num_layers=2, bidirectional=True, proj_size=1, given_state=True),
        layer_case("lstm lengths", "LSTM", 8, T=4, B=3, input_size=2, hidden_size=2, lengths=[2, 4, 1]),
        layer_case("lstm lengths shorter than T", "LSTM", 9, T=5, B=3, input_size=2, hidden_size=2,
                   lengths=[3, 1, 2], given_state=True),
        layer_case("lstm lengths bidirectional 2 layers batchFirst", "LSTM", 10, T=4, B=3, input_size=2,
                   hidden_size=2, num_layers=2, bidirectional=True, batch_first=True, lengths=[1, 4, 3],
                   given_state=True),
        layer_case("lstm lengths projection bidirectional no bias", "LSTM", 11, T=4, B=3, input_size=2,
                   hidden_size=3, bidirectional=True, proj_size=2, bias=False, lengths=[3, 2, 3], given_state=True),
    ]
    gru = [
        layer_case("gru basic", "GRU", 21, T=4, B=3, input_size=3, hidden_size=2),
        layer_case("gru 2 layers bidirectional", "GRU", 22, T=3, B=2, input_size=2, hidden_size=3, num_layers=2,
                   bidirectional=True, given_state=True),
        layer_case("gru batchFirst no bias", "GRU", 23, T=3, B=2, input_size=2, hidden_size=2, batch_first=True,
                   bias=False, given_state=True),
        layer_case("gru lengths bidirectional 2 layers", "GRU", 24, T=4, B=3, input_size=2, hidden_size=2,
                   num_layers=2, bidirectional=True, lengths=[4, 1, 2], given_state=True),
    ]
    rnn = [
        layer_case("rnn tanh basic", "RNN", 31, T=4, B=3, input_size=3, hidden_size=2),
        layer_case("rnn relu basic", "RNN", 32, T=4, B=3, input_size=3, hidden_size=2, nonlinearity="relu",
                   given_state=True),
        layer_case("rnn tanh 2 layers bidirectional batchFirst", "RNN", 33, T=3, B=2, input_size=2, hidden_size=3,
                   num_layers=2, bidirectional=True, batch_first=True, given_state=True),
        layer_case("rnn relu lengths bidirectional no bias", "RNN", 34, T=4, B=3, input_size=2, hidden_size=3,
                   bidirectional=True, nonlinearity="relu", bias=False, lengths=[2, 3, 1], given_state=True),
        layer_case("rnn tanh lengths 2 layers", "RNN", 35, T=5, B=2, input_size=2, hidden_size=2, num_layers=2,
                   lengths=[4, 2]),
    ]
    cells = [
        cell_case("lstmcell", "LSTMCell", 41, B=3, input_size=3, hidden_size=2),
        cell_case("lstmcell given state 3 steps", "LSTMCell", 42, B=2, input_size=2, hidden_size=3,
                  given_state=True, steps=3),
        cell_case("lstmcell no bias", "LSTMCell", 43, B=2, input_size=2, hidden_size=2, bias=False,
                  given_state=True),
        cell_case("grucell", "GRUCell", 44, B=3, input_size=3, hidden_size=2),
        cell_case("grucell given state 3 steps", "GRUCell", 45, B=2, input_size=2, hidden_size=3,
                  given_state=True, steps=3),
        cell_case("grucell no bias", "GRUCell", 46, B=2, input_size=2, hidden_size=2, bias=False,
                  given_state=True),
        cell_case("rnncell tanh", "RNNCell", 47, B=3, input_size=3, hidden_size=2, given_state=True, steps=2),
        cell_case("rnncell relu", "RNNCell", 48, B=3, input_size=3, hidden_size=2, nonlinearity="relu",
                  given_state=True, steps=2),
        cell_case("rnncell relu no bias", "RNNCell", 49, B=2, input_size=2, hidden_size=3, nonlinearity="relu",
                  bias=False),
    ]
    write("lstm.json", lstm)
    write("gru.json", gru)
    write("rnn.json", rnn)
    write("cells.json", cells)


if __name__ == "__main__":
    main()
