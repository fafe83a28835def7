"""Golden fixtures for @tensorloom/nn losses and layers.

Run with Debian's python3-torch:  /usr/bin/python3 packages/nn/scripts/gen_layer_loss_fixtures.py
Writes packages/nn/fixtures/losses.json and packages/nn/fixtures/layers.json (float64 throughout).

Each loss case holds the input, the target, the options (camelCase names of the TypeScript API; tensors
as {shape, data}), the output and the gradient of the input. Scalar outputs are differentiated with
cotangent 1; 'none' outputs with the stored random cotangent. Layer cases hold given parameters, the input,
a cotangent, the output and the gradients of the input and of every parameter.
"""

import json
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.manual_seed(1234)

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def packed(t):
    return {"shape": list(t.shape), "data": flat(t)}


def run(fn, x, call):
    """Evaluates call(x) and its input gradient; returns the JSON pieces."""
    x = x.clone().requires_grad_(True)
    out = call(x)
    cot = torch.randn(out.shape) if out.dim() > 0 else torch.tensor(1.0)
    (out * cot).sum().backward()
    return {
        "fn": fn,
        "input": packed(x),
        "cotangent": packed(cot) if out.dim() > 0 else None,
        "output": packed(out),
        "gradInput": packed(x.grad),
    }


REDUCTIONS = ["mean", "sum", "none"]
loss_cases = []


def add_loss(name, fn, x, target, options, call, target_kind):
    case = run(fn, x, call)
    case["name"] = name
    case["target"] = packed(target)
    case["targetKind"] = target_kind
    case["options"] = {k: (packed(v) if torch.is_tensor(v) else v) for k, v in options.items()}
    loss_cases.append(case)


# ------------------------------------------------------------ regression losses
x = torch.randn(3, 4) * 2
y = torch.randn(3, 4) * 2
y[0, 0] = x[0, 0]  # an exact tie: |d| has gradient 0 there in PyTorch
for r in REDUCTIONS:
    add_loss(f"mseLoss {r}", "mseLoss", x, y, {"reduction": r}, lambda x, r=r: F.mse_loss(x, y, reduction=r), "float")
    add_loss(f"l1Loss {r}", "l1Loss", x, y, {"reduction": r}, lambda x, r=r: F.l1_loss(x, y, reduction=r), "float")
    for delta in [1.0, 0.5, 2.5]:
        add_loss(
            f"huberLoss delta={delta} {r}",
            "huberLoss",
            x,
            y,
            {"reduction": r, "delta": delta},
            lambda x, r=r, d=delta: F.huber_loss(x, y, reduction=r, delta=d),
            "float",
        )

# ------------------------------------------------------------ classification losses
C = 5
weight = torch.rand(C) + 0.5


def class_variants():
    """(label, input shape, target tensor) for [N,C], [N,C,d], [N,C,d1,d2] and unbatched [C]."""
    t2 = torch.tensor([0, 3, 4, 1, 3, 2])
    t2i = torch.tensor([0, -100, 4, 1, -100, 2])  # default ignoreIndex
    t3 = torch.randint(0, C, (2, 3))
    t3[1, 2] = -100
    t4 = torch.randint(0, C, (2, 2, 3))
    t4[0, 1, 1] = -100
    return [
        ("[N,C]", (6, C), t2),
        ("[N,C] ignored", (6, C), t2i),
        ("[N,C,d]", (2, C, 3), t3),
        ("[N,C,d1,d2]", (2, C, 2, 3), t4),
        ("[C]", (C,), torch.tensor(3)),
    ]


OPTION_SETS = [
    {},
    {"weight": weight},
    {"ignoreIndex": 2},
    {"weight": weight, "ignoreIndex": 1},
]


def torch_kwargs(options):
    out = {}
    for k, v in options.items():
        out[{"ignoreIndex": "ignore_index", "labelSmoothing": "label_smoothing", "posWeight": "pos_weight"}.get(k, k)] = v
    return out


def with_ignore(t, options):
    """The targets with the default ignore marker −100 replaced by the case's ignoreIndex."""
    if "ignoreIndex" not in options:
        return t
    return torch.where(t == -100, torch.tensor(options["ignoreIndex"]), t)


def label(options):
    parts = [f"{k}{list(v.shape)}" if torch.is_tensor(v) else f"{k}={v}" for k, v in options.items()]
    return " ".join(parts) or "plain"


for shape_label, shape, t in class_variants():
    logits = torch.randn(*shape) * 1.5
    for opts in OPTION_SETS:
        for r in REDUCTIONS:
            o = dict(opts, reduction=r)
            kw = torch_kwargs(o)
            add_loss(
                f"nllLoss {shape_label} {label(opts)} {r}",
                "nllLoss",
                F.log_softmax(logits, 0 if len(shape) == 1 else 1).detach(),
                with_ignore(t, opts),
                o,
                lambda x, kw=kw, t=with_ignore(t, opts): F.nll_loss(x, t, **kw),
                "class",
            )
    for opts in OPTION_SETS + [
        {"labelSmoothing": 0.1},
        {"labelSmoothing": 0.25, "weight": weight},
        {"labelSmoothing": 0.3, "weight": weight, "ignoreIndex": 1},
    ]:
        for r in REDUCTIONS:
            o = dict(opts, reduction=r)
            kw = torch_kwargs(o)
            add_loss(
                f"crossEntropy {shape_label} {label(opts)} {r}",
                "crossEntropy",
                logits,
                with_ignore(t, opts),
                o,
                lambda x, kw=kw, t=with_ignore(t, opts): F.cross_entropy(x, t, **kw),
                "class",
            )

# Probability targets (same shape as the logits).
for shape in [(4, C), (2, C, 3)]:
    logits = torch.randn(*shape)
    probs = torch.softmax(torch.randn(*shape) * 2, 1)
    for opts in [{}, {"weight": weight}, {"labelSmoothing": 0.2, "weight": weight}]:
        for r in REDUCTIONS:
            o = dict(opts, reduction=r)
            kw = torch_kwargs(o)
            add_loss(
                f"crossEntropy probabilities {list(shape)} {label(opts)} {r}",
                "crossEntropy",
                logits,
                probs,
                o,
                lambda x, kw=kw, p=probs: F.cross_entropy(x, p, **kw),
                "float",
            )

# ------------------------------------------------------------ binary losses
z = torch.randn(3, 4) * 3
z[0, 0] = 0.0  # the kink of max(x, 0) and |x|: the gradient must still be sigmoid(0) - y
z[0, 1] = 40.0
z[0, 2] = -40.0
yb = torch.rand(3, 4)
yb[1, :2] = torch.tensor([0.0, 1.0])
bweight = torch.rand(3, 4) + 0.5
pos_weight = torch.rand(4) * 3 + 0.2
row_weight = torch.rand(3, 1) + 0.5
for opts in [{}, {"weight": bweight}, {"posWeight": pos_weight}, {"weight": row_weight, "posWeight": pos_weight}]:
    for r in REDUCTIONS:
        o = dict(opts, reduction=r)
        kw = torch_kwargs(o)
        add_loss(
            f"bceWithLogits {label(opts)} {r}",
            "bceWithLogits",
            z,
            yb,
            o,
            lambda x, kw=kw: F.binary_cross_entropy_with_logits(x, yb, **kw),
            "float",
        )

p = torch.rand(3, 4) * 0.98 + 0.01
# Near 0 and 1, but with p(1 - p) well above the 1e-12 at which PyTorch's hand-written backward clamps.
p[2, 3] = 1e-5
p[1, 1] = 1 - 1e-5
for opts in [{}, {"weight": bweight}, {"weight": row_weight}]:
    for r in REDUCTIONS:
        o = dict(opts, reduction=r)
        kw = torch_kwargs(o)
        add_loss(
            f"bce {label(opts)} {r}",
            "bce",
            p,
            yb,
            o,
            lambda x, kw=kw: F.binary_cross_entropy(x, yb, **kw),
            "float",
        )

# ------------------------------------------------------------ layers
layer_cases = []


def add_layer(name, kind, config, params, x, call):
    x = x.clone().requires_grad_(True)
    ps = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    out = call(x, ps)
    cot = torch.randn(out.shape)
    (out * cot).sum().backward()
    layer_cases.append(
        {
            "name": name,
            "kind": kind,
            "config": config,
            "params": {k: packed(v) for k, v in ps.items()},
            "input": packed(x),
            "cotangent": packed(cot),
            "output": packed(out),
            "gradInput": packed(x.grad),
            "gradParams": {k: packed(v.grad) for k, v in ps.items()},
        }
    )


for normalized in [[4], [3, 4]]:
    x = torch.randn(2, 3, 4) * 3 + 1
    params = {"weight": torch.randn(*normalized), "bias": torch.randn(*normalized)}
    add_layer(
        f"LayerNorm {normalized}",
        "LayerNorm",
        {"normalizedShape": normalized, "eps": 1e-5},
        params,
        x,
        lambda x, ps, n=normalized: F.layer_norm(x, n, ps["weight"], ps["bias"], 1e-5),
    )
x = torch.randn(3, 6)
add_layer(
    "LayerNorm [6] eps=0.1 no affine",
    "LayerNorm",
    {"normalizedShape": [6], "eps": 0.1, "elementwiseAffine": False},
    {},
    x,
    lambda x, ps: F.layer_norm(x, [6], None, None, 0.1),
)

for in_shape, bias in [((2, 3, 5), True), ((4, 5), False), ((5,), True)]:
    params = {"weight": torch.randn(4, 5)}
    if bias:
        params["bias"] = torch.randn(4)
    add_layer(
        f"Linear(5, 4) input {list(in_shape)} bias={bias}",
        "Linear",
        {"inFeatures": 5, "outFeatures": 4, "bias": bias},
        params,
        torch.randn(*in_shape),
        lambda x, ps: F.linear(x, ps["weight"], ps.get("bias")),
    )

for approximate in ["none", "tanh"]:
    x = torch.linspace(-6, 6, 25).reshape(5, 5)
    add_layer(
        f"GELU approximate={approximate}",
        "GELU",
        {"approximate": approximate},
        {},
        x,
        lambda x, ps, a=approximate: F.gelu(x, approximate=a),
    )

torch_version = torch.__version__
for path, payload in [
    (os.path.join(FIXTURES, "losses.json"), {"torch": torch_version, "cases": loss_cases}),
    (os.path.join(FIXTURES, "layers.json"), {"torch": torch_version, "cases": layer_cases}),
]:
    with open(path, "w") as f:
        json.dump(payload, f)
        f.write("\n")
    print(f"wrote {len(payload['cases'])} cases to {os.path.relpath(path)}")
