#!/usr/bin/python3
"""Golden fixtures for @tensorloom/autograd, computed by PyTorch (float64).

Run from anywhere with Debian's python3-torch:

    /usr/bin/python3 packages/autograd/scripts/gen_fixtures.py

It writes packages/autograd/fixtures/ops.json, which is committed; the tests only read it
(packages/autograd/test/torch-fixtures.test.ts).

Each case holds an op name (ours, camelCase), a case id, the inputs (tensors with shape and flat row-major
values, or plain numbers), the op's parameters in our argument conventions, the outputs, and, for
differentiable ops, a random cotangent per output and the gradient of sum(output * cotangent) with respect to
every input that requires grad. `torch` is the PyTorch expression that produced the case, for readers.

Inputs are seeded and stay away from kinks (relu at 0, ties in max) except in cases whose id contains
"kink" or "tie", where PyTorch's convention is the one we document: maximum/minimum split ties ½/½, full and
per-dim max/min (torch.amax/amin) share ties evenly, abs'(0) = 0, relu'(0) = 0, clamp passes the gradient at
its bounds, d/dx x⁰ = 0.
"""

import json
import math
from pathlib import Path

import torch

DT = torch.float64
OUT = Path(__file__).resolve().parent.parent / "fixtures" / "ops.json"

gen = torch.Generator().manual_seed(1234)


def dims(shape):
    """Shapes are passed as randn(2, 3) or randn(()) (0-d); both become a tuple."""
    return shape[0] if len(shape) == 1 and isinstance(shape[0], tuple) else tuple(shape)


def randn(*shape, scale=1.0):
    shape = dims(shape)
    return torch.randn(shape, generator=gen, dtype=DT) * scale


def uniform(*shape, lo, hi):
    shape = dims(shape)
    return lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=DT)


def away_from_zero(*shape, lo=0.5, hi=2.0):
    """Values of random sign with |v| in [lo, hi]: safe denominators, and clear of kinks at 0."""
    shape = dims(shape)
    sign = torch.where(torch.rand(shape, generator=gen, dtype=DT) < 0.5, -1.0, 1.0).to(DT)
    return sign * uniform(*shape, lo=lo, hi=hi)


def ints(*shape, lo, hi):
    """Whole numbers in [lo, hi] as float64 (for comparisons with ties)."""
    return torch.randint(lo, hi + 1, shape, generator=gen).to(DT)


def index(*shape, bound):
    return torch.randint(0, bound, shape, generator=gen)


def t(values):
    return torch.tensor(values, dtype=DT)


# Our dtype for each torch dtype a fixture tensor may have; float64 is the default and is not written.
# Integer results (argmax's int64) are int32 in TensorLoom.
OUR_DTYPE = {torch.float32: "float32", torch.int32: "int32", torch.int64: "int32"}


def enc(x):
    """A tensor as {shape, values[, dtype]}; values in full float64 repr (json writes the shortest round-trip
    repr); dtype (ours) unless float64."""
    values = [float(v) for v in x.detach().reshape(-1).tolist()]
    for v in values:
        if not math.isfinite(v):
            raise ValueError(f"non-finite value {v} in a fixture tensor")
    out = {"shape": list(x.shape), "values": values}
    if x.dtype != DT:
        out["dtype"] = OUR_DTYPE[x.dtype]
    return out


class Int:
    """A plain integer operand (Python int), as opposed to a float number."""

    def __init__(self, value):
        self.value = value


class NoGrad:
    """A tensor input that does not require grad (where's condition)."""

    def __init__(self, value):
        self.value = value


cases = []
ids = set()


def case(op, cid, inputs, fn, torch_expr, params=None, differentiable=True):
    """Runs fn on leaves made from `inputs` and records outputs, a cotangent and the input gradients."""
    full_id = f"{op}/{cid}"
    if full_id in ids:
        raise ValueError(f"duplicate case id {full_id}")
    ids.add(full_id)
    leaves = []
    encoded = []
    for a in inputs:
        if isinstance(a, Int):
            # A Python int stays an int: meeting an int32 tensor it keeps int32 (a float would make float32).
            leaves.append(a.value)
            encoded.append({"number": float(a.value)})
        elif isinstance(a, (int, float)):
            leaves.append(float(a))
            encoded.append({"number": float(a)})
        elif not isinstance(a, NoGrad) and a.dtype == torch.int32:
            # Integer tensors keep their dtype and never require grad.
            leaves.append(a.clone())
            encoded.append({**enc(a), "requiresGrad": False})
        else:
            grad = differentiable and not isinstance(a, NoGrad)
            value = a.value if isinstance(a, NoGrad) else a
            leaf = value.detach().clone().to(DT).requires_grad_(grad)
            leaves.append(leaf)
            encoded.append({**enc(leaf), "requiresGrad": grad})
    out = fn(*leaves)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    record = {"op": op, "id": full_id, "torch": torch_expr, "params": params or {}, "inputs": encoded}
    record["outputs"] = [enc(o) for o in outs]
    if differentiable:
        cots = [randn(*o.shape) for o in outs]
        loss = sum((o * c).sum() for o, c in zip(outs, cots))
        wrt = [leaf for leaf in leaves if isinstance(leaf, torch.Tensor) and leaf.requires_grad]
        grads = torch.autograd.grad(loss, wrt, allow_unused=True)
        it = iter(grads)
        record["cotangents"] = [enc(c) for c in cots]
        record["grads"] = []
        for leaf in leaves:
            if isinstance(leaf, torch.Tensor) and leaf.requires_grad:
                g = next(it)
                record["grads"].append(enc(torch.zeros_like(leaf) if g is None else g))
            else:
                record["grads"].append(None)
    cases.append(record)


# ---------------------------------------------------------------------------------------------------------
# Elementwise binary ops, with broadcasting and number operands.

BROADCAST_PAIRS = [
    ("same-2d", (3, 4), (3, 4)),
    ("bcast-row", (3, 4), (4,)),
    ("bcast-both", (3, 1), (1, 4)),
    ("bcast-scalar-tensor", (2, 3), ()),
    ("bcast-3d", (2, 1, 4), (3, 1)),
    ("bcast-left-smaller", (4,), (2, 3, 4)),
]

def as_tensor(v):
    """A number operand as a 0-d float64 tensor without grad (what a Python scalar means to PyTorch)."""
    return v if isinstance(v, torch.Tensor) else torch.tensor(v, dtype=DT)


def binary(fn):
    return lambda a, b: fn(as_tensor(a), as_tensor(b))


BINARY = {
    "add": (binary(torch.add), "torch.add(a, b)"),
    "sub": (binary(torch.sub), "torch.sub(a, b)"),
    "mul": (binary(torch.mul), "torch.mul(a, b)"),
    "div": (binary(torch.div), "torch.div(a, b)"),
    "maximum": (binary(torch.maximum), "torch.maximum(a, b)"),
    "minimum": (binary(torch.minimum), "torch.minimum(a, b)"),
}

for name, (fn, expr) in BINARY.items():
    for cid, sa, sb in BROADCAST_PAIRS:
        a = randn(*sa)
        b = away_from_zero(*sb) if name == "div" else randn(*sb)
        case(name, cid, [a, b], fn, expr)
    # A plain number on either side (it takes the tensor's dtype, like a Python scalar in PyTorch).
    b_num = 1.75 if name != "maximum" and name != "minimum" else 0.25
    case(name, "number-right", [randn(2, 3), b_num], fn, expr.replace("b)", f"{b_num})"))
    case(name, "number-left", [-0.5, away_from_zero(2, 3)], fn, expr.replace("(a", "(-0.5"))

# maximum/minimum ties: PyTorch gives each side half the gradient.
for name in ("maximum", "minimum"):
    fn, expr = BINARY[name]
    case(name, "tie", [t([1.0, 2.0, -3.0, 4.0, 0.5]), t([1.0, 0.0, -3.0, 5.0, 0.5])], fn, expr)
    case(name, "tie-bcast", [t([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), t([1.0, 2.0, 0.0])], fn, expr)
    case(name, "tie-number", [t([0.25, -1.0, 0.25, 2.0]), 0.25], fn, expr.replace("b)", "0.25)"))

# pow: positive bases where the exponent is a tensor (ln a must exist), any base for a number exponent.
# Excluded on purpose: a tensor exponent with a negative base. There ∂/∂b = aᵇ·ln a is undefined; PyTorch
# returns NaN and we return 0, a documented deviation (see pow in src/ops/binary.ts).
POW = binary(torch.pow)
for cid, sa, sb in BROADCAST_PAIRS:
    case("pow", cid, [uniform(*sa, lo=0.3, hi=2.5), randn(*sb)], POW, "torch.pow(a, b)")
case("pow", "number-exp-square", [randn(2, 3), 2.0], POW, "torch.pow(a, 2.0)")
case("pow", "number-exp-cube-negative-base", [-uniform(2, 3, lo=0.2, hi=2), 3.0], POW, "torch.pow(a, 3.0)")
case("pow", "number-exp-fractional", [uniform(3, 2, lo=0.2, hi=3), -1.5], POW, "torch.pow(a, -1.5)")
case("pow", "number-base", [2.5, randn(2, 3)], POW, "torch.pow(2.5, b)")
# d/dx x⁰ = 0 everywhere, including x = 0 (b·x^(b−1) would be 0·∞ there).
case("pow", "kink-zero-exp", [t([0.0, 1.5, -2.0]), 0.0], POW, "torch.pow(a, 0.0)")
# Base 0 with a positive tensor exponent: ∂/∂b = 0 (PyTorch's and our convention), and
# ∂/∂a = b·0^(b−1) = 0 for b > 1.
case("pow", "kink-zero-base", [t([0.0, 0.0, 1.5]), t([2.0, 3.0, 0.5])], POW, "torch.pow(a, b)")


# where: condition (no grad), two branches, all three broadcast.
def cond(*shape):
    shape = dims(shape)
    return (torch.rand(shape, generator=gen) < 0.5).to(DT)


case("where", "same", [NoGrad(cond(3, 4)), randn(3, 4), randn(3, 4)], lambda c, a, b: torch.where(c != 0, a, b),
     "torch.where(c, a, b)")
case("where", "bcast-all", [NoGrad(cond(3, 1)), randn(1, 4), randn(())],
     lambda c, a, b: torch.where(c != 0, a, b), "torch.where(c, a, b)")
case("where", "bcast-cond", [NoGrad(cond(4)), randn(2, 3, 4), randn(3, 1)],
     lambda c, a, b: torch.where(c != 0, a, b), "torch.where(c, a, b)")
case("where", "number-branch", [NoGrad(cond(2, 3)), randn(2, 3), 0.0],
     lambda c, a, b: torch.where(c != 0, a, torch.tensor(b, dtype=DT)), "torch.where(c, a, 0.0)")

# ---------------------------------------------------------------------------------------------------------
# Elementwise unary ops.

UNARY = {
    "neg": (torch.neg, lambda *s: randn(*s)),
    "exp": (torch.exp, lambda *s: randn(*s, scale=1.5)),
    "log": (torch.log, lambda *s: uniform(*s, lo=0.1, hi=5)),
    "log1p": (torch.log1p, lambda *s: uniform(*s, lo=-0.9, hi=4)),
    "sqrt": (torch.sqrt, lambda *s: uniform(*s, lo=0.05, hi=5)),
    "abs": (torch.abs, lambda *s: away_from_zero(*s, lo=0.05, hi=3)),
    "tanh": (torch.tanh, lambda *s: randn(*s, scale=2)),
    "sigmoid": (torch.sigmoid, lambda *s: randn(*s, scale=3)),
    "relu": (torch.relu, lambda *s: away_from_zero(*s, lo=0.05, hi=3)),
    "sin": (torch.sin, lambda *s: randn(*s, scale=3)),
    "cos": (torch.cos, lambda *s: randn(*s, scale=3)),
    "erf": (torch.erf, lambda *s: randn(*s, scale=1.5)),
}

for name, (fn, draw) in UNARY.items():
    for cid, shape in (("2d", (3, 4)), ("scalar", ()), ("3d", (2, 2, 3))):
        case(name, cid, [draw(*shape)], fn, f"torch.{fn.__name__}(x)")

# Wide ranges: erf across its series / continued-fraction switch at |x| = 2.5 and its tails; sigmoid and
# tanh saturating; exp and log over several decades.
case("erf", "range", [t([-7.0, -4.0, -2.6, -2.5, -1.0, 0.0, 1e-8, 0.1, 0.5, 2.0, 2.4999, 2.5001, 3.5, 5.0, 6.5])],
     torch.erf, "torch.erf(x)")
case("sigmoid", "range", [t([-40.0, -12.0, -3.0, -1e-3, 0.0, 0.3, 5.0, 12.0, 40.0])], torch.sigmoid,
     "torch.sigmoid(x)")
case("tanh", "range", [t([-20.0, -5.0, -0.5, 0.0, 1e-6, 0.7, 4.0, 19.0])], torch.tanh, "torch.tanh(x)")
case("exp", "range", [t([-30.0, -5.0, 0.0, 1e-9, 2.0, 20.0])], torch.exp, "torch.exp(x)")
case("log", "range", [t([1e-8, 1e-3, 0.5, 1.0, 7.0, 1e6])], torch.log, "torch.log(x)")
case("log1p", "range", [t([-0.999, -0.5, -1e-10, 0.0, 1e-10, 3.0, 1e5])], torch.log1p, "torch.log1p(x)")
# Kinks where PyTorch's convention is ours: abs'(0) = 0 and relu'(0) = 0.
case("abs", "kink-zero", [t([-1.5, 0.0, 2.0, -0.0, 0.25])], torch.abs, "torch.abs(x)")
case("relu", "kink-zero", [t([-1.5, 0.0, 2.0, -0.0, 0.25])], torch.relu, "torch.relu(x)")

# clamp(x, min, max): either bound optional; the gradient passes where min ≤ x ≤ max, bounds included.
case("clamp", "both", [randn(3, 4, scale=2)], lambda x: torch.clamp(x, -1.0, 0.8), "torch.clamp(x, -1.0, 0.8)",
     params={"min": -1.0, "max": 0.8})
case("clamp", "min-only", [randn(2, 5)], lambda x: torch.clamp(x, min=-0.3), "torch.clamp(x, min=-0.3)",
     params={"min": -0.3})
case("clamp", "max-only", [randn(2, 5)], lambda x: torch.clamp(x, max=0.4), "torch.clamp(x, max=0.4)",
     params={"max": 0.4})
case("clamp", "scalar", [randn(())], lambda x: torch.clamp(x, -0.5, 0.5), "torch.clamp(x, -0.5, 0.5)",
     params={"min": -0.5, "max": 0.5})
case("clamp", "kink-at-bounds", [t([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0])], lambda x: torch.clamp(x, -1.0, 1.0),
     "torch.clamp(x, -1.0, 1.0)", params={"min": -1.0, "max": 1.0})
case("clamp", "kink-equal-bounds", [t([-2.0, 0.5, 1.0])], lambda x: torch.clamp(x, 0.5, 0.5),
     "torch.clamp(x, 0.5, 0.5)", params={"min": 0.5, "max": 0.5})

# ---------------------------------------------------------------------------------------------------------
# Reductions. `dim` may be absent (all dims), an int (negative allowed) or a list; keepdim optional.

REDUCE_DIMS = [
    ("all", None, False),
    ("all-keepdim", None, True),
    ("dim0", 0, False),
    ("dim-neg", -1, False),
    ("dim1-keepdim", 1, True),
    ("dims-0-2", [0, 2], False),
    ("dims-neg-keepdim", [-1, 0], True),
]


def dim_arg(dim, ndim):
    """Our `dim` as torch wants it: a tuple for several dims, all dims spelled out where torch needs them."""
    if dim is None:
        return tuple(range(ndim))
    return tuple(dim) if isinstance(dim, list) else dim


def params_of(dim, keepdim, **extra):
    p = {} if dim is None else {"dim": dim}
    if keepdim:
        p["keepdim"] = True
    p.update(extra)
    return p


for cid, dim, keepdim in REDUCE_DIMS:
    x = randn(2, 3, 4)
    d = dim_arg(dim, 3)
    case("sum", cid, [x], lambda x, d=d, k=keepdim: torch.sum(x, d, keepdim=k),
         f"torch.sum(x, {d}, keepdim={keepdim})", params_of(dim, keepdim))
    case("mean", cid, [randn(2, 3, 4)], lambda x, d=d, k=keepdim: torch.mean(x, d, keepdim=k),
         f"torch.mean(x, {d}, keepdim={keepdim})", params_of(dim, keepdim))
    case("logsumexp", cid, [randn(2, 3, 4, scale=2)], lambda x, d=d, k=keepdim: torch.logsumexp(x, d, keepdim=k),
         f"torch.logsumexp(x, {d}, keepdim={keepdim})", params_of(dim, keepdim))
    # Per-dim max/min are values only, with ties shared: that is torch.amax/amin (torch.max(x, dim) would
    # send the whole gradient to one index). Random normals have no ties.
    case("max", cid, [randn(2, 3, 4)], lambda x, d=d, k=keepdim: torch.amax(x, d, keepdim=k),
         f"torch.amax(x, {d}, keepdim={keepdim})", params_of(dim, keepdim))
    case("min", cid, [randn(2, 3, 4)], lambda x, d=d, k=keepdim: torch.amin(x, d, keepdim=k),
         f"torch.amin(x, {d}, keepdim={keepdim})", params_of(dim, keepdim))
    for corr in (0, 1):
        case("variance", f"{cid}-correction{corr}", [randn(2, 3, 4)],
             lambda x, d=d, k=keepdim, c=corr: torch.var(x, d, correction=c, keepdim=k),
             f"torch.var(x, {d}, correction={corr}, keepdim={keepdim})",
             params_of(dim, keepdim, correction=corr))

# Over all dims of a 0-d tensor and of a 1-d tensor (torch spells "all dims" as a tuple for amax/logsumexp).
ALL_DIMS = {
    "sum": lambda x: torch.sum(x),
    "mean": lambda x: torch.mean(x),
    "max": lambda x: torch.amax(x, tuple(range(x.dim()))),
    "min": lambda x: torch.amin(x, tuple(range(x.dim()))),
    "logsumexp": lambda x: torch.logsumexp(x, tuple(range(x.dim()))),
}
for name, fn in ALL_DIMS.items():
    case(name, "scalar-input", [randn(())], fn, f"{name} over all dims of a 0-d tensor")
    case(name, "1d", [randn(5)], fn, f"{name} over all dims of a 1-d tensor")

# Ties: PyTorch's full max()/min() and amax/amin share the gradient evenly among the tied extremes.
tie = t([[3.0, 1.0, 3.0, -2.0], [0.5, 3.0, -2.0, -2.0], [-2.0, 1.0, 0.5, 0.5]])
case("max", "tie-all", [tie], torch.max, "torch.max(x)")
case("min", "tie-all", [tie], torch.min, "torch.min(x)")
case("max", "tie-dim1", [tie], lambda x: torch.amax(x, 1), "torch.amax(x, 1)", params={"dim": 1})
case("min", "tie-dim0-keepdim", [tie], lambda x: torch.amin(x, 0, keepdim=True), "torch.amin(x, 0, keepdim=True)",
     params={"dim": 0, "keepdim": True})
case("max", "tie-dims", [tie.reshape(3, 2, 2)], lambda x: torch.amax(x, (1, 2)), "torch.amax(x, (1, 2))",
     params={"dim": [1, 2]})
case("min", "tie-dims-neg", [tie.reshape(3, 2, 2)], lambda x: torch.amin(x, (0, -1)), "torch.amin(x, (0, -1))",
     params={"dim": [0, -1]})
case("max", "tie-all-equal", [t([[1.5, 1.5], [1.5, 1.5]])], torch.max, "torch.max(x)")

# softmax / logSoftmax along one dim.
for cid, shape, dim in (("2d-dim1", (3, 5), 1), ("2d-dim0", (3, 5), 0), ("3d-dim-neg", (2, 3, 4), -1),
                        ("3d-dim1", (2, 3, 4), 1), ("1d", (6,), 0)):
    case("softmax", cid, [randn(*shape, scale=2)], lambda x, d=dim: torch.softmax(x, d),
         f"torch.softmax(x, {dim})", {"dim": dim})
    case("logSoftmax", cid, [randn(*shape, scale=2)], lambda x, d=dim: torch.log_softmax(x, d),
         f"torch.log_softmax(x, {dim})", {"dim": dim})
case("softmax", "large-values", [t([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]])],
     lambda x: torch.softmax(x, 1), "torch.softmax(x, 1)", {"dim": 1})
case("logSoftmax", "large-values", [t([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]])],
     lambda x: torch.log_softmax(x, 1), "torch.log_softmax(x, 1)", {"dim": 1})

# argmax / argmin (not differentiable): the first extreme index wins ties, as documented by PyTorch.
for name, fn in (("argmax", torch.argmax), ("argmin", torch.argmin)):
    x = randn(3, 4, 2)
    case(name, "all", [x], fn, f"torch.{name}(x)", differentiable=False)
    case(name, "dim1", [x], lambda x, f=fn: f(x, 1), f"torch.{name}(x, 1)", {"dim": 1}, differentiable=False)
    case(name, "dim-neg-keepdim", [x], lambda x, f=fn: f(x, -1, keepdim=True),
         f"torch.{name}(x, -1, keepdim=True)",
         {"dim": -1, "keepdim": True}, differentiable=False)
    case(name, "tie-all", [tie], fn, f"torch.{name}(x)", differentiable=False)
    case(name, "tie-dim1", [tie], lambda x, f=fn: f(x, 1), f"torch.{name}(x, 1)", {"dim": 1}, differentiable=False)
    case(name, "tie-dim0", [tie], lambda x, f=fn: f(x, 0), f"torch.{name}(x, 0)", {"dim": 0}, differentiable=False)

# Comparisons and sign (not differentiable): 1/0 in the inputs' dtype; small integers so ties occur.
for name in ("gt", "lt", "ge", "le", "eq", "ne"):
    fn = getattr(torch, name)
    case(name, "same", [ints(3, 4, lo=-2, hi=2), ints(3, 4, lo=-2, hi=2)], lambda a, b, f=fn: f(a, b).to(DT),
         f"torch.{name}(a, b)", differentiable=False)
    case(name, "bcast", [ints(3, 1, lo=-2, hi=2), ints(4, lo=-2, hi=2)], lambda a, b, f=fn: f(a, b).to(DT),
         f"torch.{name}(a, b)", differentiable=False)
    case(name, "number", [ints(2, 3, lo=-2, hi=2), 0.0], lambda a, b, f=fn: f(a, b).to(DT),
         f"torch.{name}(a, 0.0)", differentiable=False)
case("sign", "values", [t([-2.5, -0.0, 0.0, 1e-300, 3.0, -1e-300])], torch.sign, "torch.sign(x)",
     differentiable=False)

# ---------------------------------------------------------------------------------------------------------
# Shape and data movement.

case("reshape", "2d-to-3d", [randn(4, 6)], lambda x: x.reshape(2, 3, 4), "x.reshape(2, 3, 4)",
     {"shape": [2, 3, 4]})
case("reshape", "infer", [randn(2, 3, 4)], lambda x: x.reshape(6, -1), "x.reshape(6, -1)", {"shape": [6, -1]})
case("reshape", "to-scalar", [randn(1, 1)], lambda x: x.reshape(()), "x.reshape(())", {"shape": []})
case("reshape", "from-scalar", [randn(())], lambda x: x.reshape(1, 1, 1), "x.reshape(1, 1, 1)",
     {"shape": [1, 1, 1]})

case("flatten", "default", [randn(2, 3, 2)], torch.flatten, "torch.flatten(x)")
case("flatten", "middle", [randn(2, 3, 2, 2)], lambda x: torch.flatten(x, 1, 2), "torch.flatten(x, 1, 2)",
     {"startDim": 1, "endDim": 2})
case("flatten", "start-neg", [randn(2, 3, 2)], lambda x: torch.flatten(x, -2), "torch.flatten(x, -2)",
     {"startDim": -2})
case("flatten", "scalar", [randn(())], torch.flatten, "torch.flatten(x)")

case("transpose", "2d", [randn(3, 4)], lambda x: torch.transpose(x, 0, 1), "torch.transpose(x, 0, 1)",
     {"dim0": 0, "dim1": 1})
case("transpose", "3d-neg", [randn(2, 3, 4)], lambda x: torch.transpose(x, -1, 0), "torch.transpose(x, -1, 0)",
     {"dim0": -1, "dim1": 0})
case("transpose", "same-dim", [randn(2, 3)], lambda x: torch.transpose(x, 1, 1), "torch.transpose(x, 1, 1)",
     {"dim0": 1, "dim1": 1})

case("permute", "3d", [randn(2, 3, 4)], lambda x: x.permute(2, 0, 1), "x.permute(2, 0, 1)", {"dims": [2, 0, 1]})
case("permute", "4d-neg", [randn(2, 1, 3, 2)], lambda x: x.permute(-1, 0, 2, 1), "x.permute(-1, 0, 2, 1)",
     {"dims": [-1, 0, 2, 1]})
case("permute", "identity", [randn(2, 3)], lambda x: x.permute(0, 1), "x.permute(0, 1)", {"dims": [0, 1]})

case("squeeze", "all", [randn(1, 3, 1, 2)], torch.squeeze, "torch.squeeze(x)")
case("squeeze", "dim", [randn(1, 3, 1, 2)], lambda x: torch.squeeze(x, 2), "torch.squeeze(x, 2)", {"dim": 2})
case("squeeze", "dim-neg", [randn(3, 1)], lambda x: torch.squeeze(x, -1), "torch.squeeze(x, -1)", {"dim": -1})
case("squeeze", "dim-not-one", [randn(2, 3)], lambda x: torch.squeeze(x, 0), "torch.squeeze(x, 0)", {"dim": 0})

case("unsqueeze", "front", [randn(2, 3)], lambda x: torch.unsqueeze(x, 0), "torch.unsqueeze(x, 0)", {"dim": 0})
case("unsqueeze", "middle", [randn(2, 3)], lambda x: torch.unsqueeze(x, 1), "torch.unsqueeze(x, 1)", {"dim": 1})
case("unsqueeze", "end-neg", [randn(2, 3)], lambda x: torch.unsqueeze(x, -1), "torch.unsqueeze(x, -1)",
     {"dim": -1})
case("unsqueeze", "scalar", [randn(())], lambda x: torch.unsqueeze(x, 0), "torch.unsqueeze(x, 0)", {"dim": 0})

case("broadcastTo", "row", [randn(3)], lambda x: x.expand(2, 3), "x.expand(2, 3)", {"shape": [2, 3]})
case("broadcastTo", "inner-and-new", [randn(3, 1)], lambda x: x.expand(2, 3, 4), "x.expand(2, 3, 4)",
     {"shape": [2, 3, 4]})
case("broadcastTo", "scalar", [randn(())], lambda x: x.expand(2, 2), "x.expand(2, 2)", {"shape": [2, 2]})
case("broadcastTo", "same", [randn(2, 2)], lambda x: x.expand(2, 2), "x.expand(2, 2)", {"shape": [2, 2]})

case("sumTo", "rows", [randn(3, 4)], lambda x: x.sum_to_size(1, 4), "x.sum_to_size(1, 4)", {"shape": [1, 4]})
case("sumTo", "lead-and-inner", [randn(2, 3, 4)], lambda x: x.sum_to_size(3, 1), "x.sum_to_size(3, 1)",
     {"shape": [3, 1]})

case("narrow", "dim1", [randn(3, 5)], lambda x: torch.narrow(x, 1, 1, 3), "torch.narrow(x, 1, 1, 3)",
     {"dim": 1, "start": 1, "length": 3})
case("narrow", "dim-neg", [randn(2, 3, 4)], lambda x: torch.narrow(x, -1, 2, 2), "torch.narrow(x, -1, 2, 2)",
     {"dim": -1, "start": 2, "length": 2})
case("narrow", "dim0-first", [randn(4, 2)], lambda x: torch.narrow(x, 0, 0, 1), "torch.narrow(x, 0, 0, 1)",
     {"dim": 0, "start": 0, "length": 1})

case("slice", "tail", [randn(5, 3)], lambda x: x[2:], "x[2:]", {"dim": 0, "start": 2})
case("slice", "negative", [randn(2, 6)], lambda x: x[:, -4:-1], "x[:, -4:-1]", {"dim": -1, "start": -4, "end": -1})
case("slice", "clamped-end", [randn(2, 3, 4)], lambda x: x[:, 1:100], "x[:, 1:100]",
     {"dim": 1, "start": 1, "end": 100})
case("slice", "empty", [randn(3, 2)], lambda x: x[2:1], "x[2:1]", {"dim": 0, "start": 2, "end": 1})

case("zeroPad", "last", [randn(2, 3)], lambda x: torch.nn.functional.pad(x, (1, 2)), "F.pad(x, (1, 2))",
     {"dim": 1, "before": 1, "after": 2})
case("zeroPad", "first", [randn(2, 3)], lambda x: torch.nn.functional.pad(x, (0, 0, 2, 0)),
     "F.pad(x, (0, 0, 2, 0))", {"dim": 0, "before": 2, "after": 0})

case("clone", "2d", [randn(2, 3)], torch.clone, "torch.clone(x)")

case("cat", "dim0", [randn(2, 3), randn(1, 3), randn(3, 3)], lambda *xs: torch.cat(xs, 0), "torch.cat(xs, 0)",
     {"dim": 0})
case("cat", "dim1", [randn(2, 1), randn(2, 4)], lambda *xs: torch.cat(xs, 1), "torch.cat(xs, 1)", {"dim": 1})
case("cat", "dim-neg-3d", [randn(2, 3, 2), randn(2, 3, 1), randn(2, 3, 3)], lambda *xs: torch.cat(xs, -1),
     "torch.cat(xs, -1)", {"dim": -1})
case("cat", "single", [randn(2, 2)], lambda *xs: torch.cat(xs, 0), "torch.cat(xs, 0)", {"dim": 0})

case("stack", "dim0", [randn(2, 3), randn(2, 3), randn(2, 3)], lambda *xs: torch.stack(xs, 0),
     "torch.stack(xs, 0)", {"dim": 0})
case("stack", "dim-last", [randn(2, 3), randn(2, 3)], lambda *xs: torch.stack(xs, 2), "torch.stack(xs, 2)",
     {"dim": 2})
case("stack", "dim-neg", [randn(3), randn(3)], lambda *xs: torch.stack(xs, -1), "torch.stack(xs, -1)",
     {"dim": -1})
case("stack", "scalars", [randn(()), randn(()), randn(())], lambda *xs: torch.stack(xs, 0), "torch.stack(xs, 0)",
     {"dim": 0})

case("split", "size-remainder", [randn(7, 2)], lambda x: torch.split(x, 3, 0), "torch.split(x, 3, 0)",
     {"splitSize": 3, "dim": 0})
case("split", "sizes", [randn(2, 6)], lambda x: torch.split(x, [1, 3, 2], 1), "torch.split(x, [1, 3, 2], 1)",
     {"splitSize": [1, 3, 2], "dim": 1})
case("split", "dim-neg", [randn(2, 3, 4)], lambda x: torch.split(x, 2, -1), "torch.split(x, 2, -1)",
     {"splitSize": 2, "dim": -1})

case("chunk", "uneven", [randn(7, 2)], lambda x: torch.chunk(x, 3, 0), "torch.chunk(x, 3, 0)",
     {"chunks": 3, "dim": 0})
case("chunk", "fewer-than-asked", [randn(6, 2)], lambda x: torch.chunk(x, 4, 0), "torch.chunk(x, 4, 0)",
     {"chunks": 4, "dim": 0})
case("chunk", "dim-neg", [randn(2, 4)], lambda x: torch.chunk(x, 2, -1), "torch.chunk(x, 2, -1)",
     {"chunks": 2, "dim": -1})

for cid, shape, dim, idx in (("dim0-repeats", (4, 3), 0, [2, 0, 2, 3]), ("dim1", (2, 5, 2), 1, [4, 1]),
                             ("dim-neg", (3, 4), -1, [3, 3, 0, 1, 2]), ("empty-index", (3, 2), 0, [])):
    case("indexSelect", cid, [randn(*shape)],
         lambda x, d=dim, i=idx: torch.index_select(x, d, torch.tensor(i, dtype=torch.long)),
         f"torch.index_select(x, {dim}, {idx})", {"dim": dim, "index": idx})

for cid, shape, dim, idx in (("dim0-repeats", (4, 3), 0, [1, 1, 3]), ("dim1", (2, 4, 2), 1, [0, 3, 0]),
                             ("dim-neg", (2, 3), -1, [2, 0])):
    src_shape = list(shape)
    src_shape[dim] = len(idx)
    case("indexAdd", cid, [randn(*shape), randn(*src_shape)],
         lambda x, s, d=dim, i=idx: torch.index_add(x, d, torch.tensor(i, dtype=torch.long), s),
         f"torch.index_add(x, {dim}, {idx}, src)", {"dim": dim, "index": idx})

for cid, shape, dim, ishape in (("dim1", (3, 4), 1, (3, 5)), ("dim0-smaller", (4, 3), 0, (2, 2)),
                                ("3d-dim-neg", (2, 3, 4), -1, (2, 2, 3)), ("dim1-3d", (2, 3, 2), 1, (1, 4, 2))):
    d = dim % len(shape)
    idx = index(*ishape, bound=shape[d])
    case("gather", cid, [randn(*shape)], lambda x, dd=dim, i=idx: torch.gather(x, dd, i),
         f"torch.gather(x, {dim}, index)", {"dim": dim, "index": enc(idx.to(DT))})
    src = randn(*ishape)
    case("scatterAdd", cid, [randn(*shape), src], lambda x, s, dd=dim, i=idx: torch.scatter_add(x, dd, i, s),
         f"torch.scatter_add(x, {dim}, index, src)", {"dim": dim, "index": enc(idx.to(DT))})

# ---------------------------------------------------------------------------------------------------------
# Matrix products.

for cid, sa, sb in (("1d-1d", (4,), (4,)), ("1d-2d", (3,), (3, 4)), ("2d-1d", (3, 4), (4,)),
                    ("2d-2d", (3, 4), (4, 2)), ("batched", (2, 3, 4), (2, 4, 5)),
                    ("batched-2d", (2, 3, 4), (4, 5)), ("2d-batched", (3, 4), (2, 4, 2)),
                    ("bcast-batch", (2, 1, 3, 4), (3, 4, 2)), ("1d-batched", (4,), (2, 4, 3)),
                    ("batched-1d", (2, 3, 4), (4,))):
    case("matmul", cid, [randn(*sa), randn(*sb)], torch.matmul, "torch.matmul(a, b)")

case("linear", "bias", [randn(3, 4), randn(5, 4), randn(5)], torch.nn.functional.linear, "F.linear(x, w, b)")
case("linear", "no-bias", [randn(3, 4), randn(2, 4)], torch.nn.functional.linear, "F.linear(x, w)")
case("linear", "3d-input", [randn(2, 3, 4), randn(5, 4), randn(5)], torch.nn.functional.linear,
     "F.linear(x, w, b)")
case("linear", "1d-input", [randn(4), randn(3, 4), randn(3)], torch.nn.functional.linear, "F.linear(x, w, b)")

# gemm(a, b, {transA, transB}) = op(a)·op(b), checked against torch.matmul of the transposed operands.
for cid, ta, tb, sa, sb in (("nn", False, False, (3, 4), (4, 2)), ("tn", True, False, (4, 3), (4, 2)),
                            ("nt", False, True, (3, 4), (2, 4)), ("tt", True, True, (4, 3), (2, 4)),
                            ("batched-nn", False, False, (2, 3, 4), (2, 4, 5)),
                            ("batched-tn", True, False, (2, 4, 3), (2, 4, 5)),
                            ("batched-nt", False, True, (2, 3, 4), (2, 5, 4)),
                            ("batched-tt", True, True, (2, 4, 3), (2, 5, 4))):
    def gemm(a, b, ta=ta, tb=tb):
        return torch.matmul(a.transpose(-1, -2) if ta else a, b.transpose(-1, -2) if tb else b)

    expr = f"torch.matmul({'a.mT' if ta else 'a'}, {'b.mT' if tb else 'b'})"
    case("gemm", cid, [randn(*sa), randn(*sb)], gemm, expr, {"transA": ta, "transB": tb})

# ---------------------------------------------------------------------------------------------------------
# int32 operands: PyTorch's type promotion. int32 with float64 computes in float64 (and the int32 input gets no
# gradient); int32 with int32, or with a Python int, stays int32 and wraps; true division, a Python float and
# floating functions give float32.


def int32s(*shape, lo=-6, hi=7):
    return torch.randint(lo, hi, dims(shape), generator=gen, dtype=torch.int32)


# Products and sums past the int32 range wrap (two's complement), as Int32Array does.
WRAP_A = torch.tensor([2**31 - 1, 65536, -7, 5, -2**31], dtype=torch.int32)
WRAP_B = torch.tensor([2, 65537, 2, -3, 1], dtype=torch.int32)
for name in ("add", "sub", "mul"):
    fn = getattr(torch, name)
    case(name, "int32-float64", [int32s(3, 4), randn(3, 4)], fn, f"torch.{name}(int32 a, b)")
    case(name, "int32-float64-bcast", [randn(2, 3), int32s(3)], fn, f"torch.{name}(a, int32 b)")
    case(name, "int32-int32", [int32s(3, 4), int32s(4)], fn, f"torch.{name}(int32 a, int32 b)",
         differentiable=False)
    case(name, "int32-wrap", [WRAP_A, WRAP_B], fn, f"torch.{name}(int32 a, int32 b)", differentiable=False)
    case(name, "int32-number-int", [int32s(2, 3), Int(3)], fn, f"torch.{name}(int32 a, 3)",
         differentiable=False)
    case(name, "int32-number-float", [int32s(2, 3), 0.5], fn, f"torch.{name}(int32 a, 0.5)",
         differentiable=False)
case("div", "int32-int32", [int32s(3, 4), int32s(3, 4, lo=1, hi=5)], torch.div,
     "torch.div(int32 a, int32 b)", differentiable=False)
case("div", "int32-number-int", [int32s(2, 3), Int(4)], torch.div, "torch.div(int32 a, 4)", differentiable=False)
case("div", "int32-float64", [int32s(3, 4), away_from_zero(3, 4)], torch.div, "torch.div(int32 a, b)")
for name in ("maximum", "minimum"):
    case(name, "int32-int32", [int32s(3, 4), int32s(3, 4)], getattr(torch, name),
         f"torch.{name}(int32 a, int32 b)", differentiable=False)
for name in ("neg", "abs"):
    case(name, "int32", [WRAP_A], getattr(torch, name), f"torch.{name}(int32 x)", differentiable=False)
for name in ("exp", "sigmoid", "tanh"):
    case(name, "int32", [int32s(2, 3, lo=-3, hi=4)], getattr(torch, name), f"torch.{name}(int32 x)",
         differentiable=False)
case("where", "int32", [NoGrad(cond(3, 4)), int32s(3, 4), int32s(4)], lambda c, a, b: torch.where(c != 0, a, b),
     "torch.where(c, int32 a, int32 b)", differentiable=False)
case("where", "int32-float64", [NoGrad(cond(3, 4)), int32s(3, 4), randn(3, 4)],
     lambda c, a, b: torch.where(c != 0, a, b), "torch.where(c, int32 a, b)")
case("sum", "int32-dim", [int32s(3, 4)], lambda x: torch.sum(x, 1), "torch.sum(int32 x, 1)", {"dim": 1},
     differentiable=False)
case("max", "int32-dim", [int32s(3, 4)], lambda x: torch.amax(x, 1), "torch.amax(int32 x, 1)", {"dim": 1},
     differentiable=False)
case("argmax", "int32-input", [int32s(3, 4, lo=0, hi=3)], lambda x: torch.argmax(x, 1), "torch.argmax(int32 x, 1)",
     {"dim": 1}, differentiable=False)
case("clamp", "int32", [int32s(3, 4)], lambda x: torch.clamp(x, -2, 3), "torch.clamp(int32 x, -2, 3)",
     {"min": -2, "max": 3}, differentiable=False)
case("clamp", "int32-float-bound", [int32s(3, 4)], lambda x: torch.clamp(x, min=-1.5), "torch.clamp(int32 x, min=-1.5)",
     {"min": -1.5}, differentiable=False)

# ---------------------------------------------------------------------------------------------------------

fixture = {
    "torch": torch.__version__,
    "generator": "packages/autograd/scripts/gen_fixtures.py",
    "dtype": "float64",
    "note": "grads[i] is the gradient of sum(outputs[k] * cotangents[k]) over k with respect to inputs[i] "
            "(null where the input is a number or does not require grad)",
    "cases": cases,
}
OUT.parent.mkdir(parents=True, exist_ok=True)
text = json.dumps(fixture, separators=(",", ":"), allow_nan=False)
# One case per line keeps diffs of a regenerated fixture readable.
text = text.replace(',{"op":', ',\n{"op":').replace('"cases":[{"op":', '"cases":[\n{"op":')
OUT.write_text(text + "\n")
print(f"wrote {len(cases)} cases ({len(text) / 1e6:.2f} MB) to {OUT}")
