"""Golden fixtures for @tensorloom/nn optimizers, LR schedulers and gradient clipping.

Run with Debian's python3-torch:  /usr/bin/python3 packages/nn/scripts/gen_optim_fixtures.py
Writes packages/nn/fixtures/optim.json (float64 throughout). Option names in the JSON are the camelCase
names of the TypeScript API; this script maps them to PyTorch's snake_case keyword arguments.
"""

import json
import math
import os
import warnings

import torch

torch.set_default_dtype(torch.float64)
warnings.filterwarnings("ignore")  # scheduler-order warnings: we step the optimizer first anyway

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "optim.json")

SNAKE = {
    "weightDecay": "weight_decay",
    "lrDecay": "lr_decay",
    "initialAccumulatorValue": "initial_accumulator_value",
    "stepSize": "step_size",
    "tMax": "T_max",
    "etaMin": "eta_min",
    "startFactor": "start_factor",
    "endFactor": "end_factor",
    "totalIters": "total_iters",
    "thresholdMode": "threshold_mode",
    "minLr": "min_lr",
}


def snake(options):
    return {SNAKE.get(k, k): (tuple(v) if k == "betas" else v) for k, v in options.items()}


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def packed(t):
    return {"shape": list(t.shape), "data": flat(t)}


# ---------------------------------------------------------------- optimizers
SHAPES = [[2, 3], [4]]
STEPS = 6
SKIP = (2, 1)  # at step 2, parameter 1 has no gradient (grad is None) and must be left alone

OPTIMIZERS = {
    "SGD": torch.optim.SGD,
    "Adam": torch.optim.Adam,
    "AdamW": torch.optim.AdamW,
    "RMSprop": torch.optim.RMSprop,
    "Adagrad": torch.optim.Adagrad,
}

# (optimizer, defaults, groups or None). Groups list parameter indices plus per-group overrides.
CASES = [
    ("SGD", {"lr": 0.1}, None),
    ("SGD", {"lr": 0.1, "momentum": 0.9}, None),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}, None),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}, None),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weightDecay": 0.01}, None),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "nesterov": True, "weightDecay": 0.1, "maximize": True}, None),
    ("SGD", {"lr": 0.1, "weightDecay": 0.2}, None),
    ("SGD", {"lr": 0.1, "momentum": 0.9}, [{"params": [0]}, {"params": [1], "lr": 0.01, "momentum": 0.5}]),
    ("Adam", {"lr": 0.01}, None),
    ("Adam", {"lr": 0.01, "weightDecay": 0.1}, None),
    ("Adam", {"lr": 0.02, "amsgrad": True}, None),
    ("Adam", {"lr": 0.01, "betas": [0.8, 0.95], "eps": 1e-6, "maximize": True}, None),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weightDecay": 0.05, "maximize": True}, None),
    ("Adam", {"lr": 0.01}, [{"params": [0], "lr": 0.1}, {"params": [1], "betas": [0.5, 0.9], "amsgrad": True}]),
    ("AdamW", {"lr": 0.01}, None),
    ("AdamW", {"lr": 0.01, "weightDecay": 0.1, "amsgrad": True}, None),
    ("AdamW", {"lr": 0.01, "weightDecay": 0, "maximize": True, "betas": [0.7, 0.99]}, None),
    ("RMSprop", {"lr": 0.01}, None),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}, None),
    ("RMSprop", {"lr": 0.01, "centered": True}, None),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weightDecay": 0.1, "alpha": 0.9}, None),
    ("RMSprop", {"lr": 0.005, "eps": 1e-4, "maximize": True}, None),
    ("Adagrad", {"lr": 0.1}, None),
    ("Adagrad", {"lr": 0.1, "lrDecay": 0.05, "weightDecay": 0.1}, None),
    ("Adagrad", {"lr": 0.1, "initialAccumulatorValue": 0.5, "eps": 1e-6, "maximize": True}, None),
    ("Adagrad", {"lr": 0.1}, [{"params": [0], "lr": 0.5, "lrDecay": 0.1}, {"params": [1]}]),
]


def case_name(kind, options, groups):
    parts = [kind] + [f"{k}={json.dumps(v)}" for k, v in options.items()]
    if groups:
        parts.append(f"groups={json.dumps(groups)}")
    return " ".join(parts)


def optimizer_case(index, kind, options, groups):
    g = torch.Generator().manual_seed(1000 + index)
    params = [torch.randn(s, generator=g).requires_grad_() for s in SHAPES]
    initial = [packed(p) for p in params]
    if groups is None:
        opt = OPTIMIZERS[kind](params, **snake(options), foreach=False)
    else:
        torch_groups = [dict(snake({k: v for k, v in gr.items() if k != "params"}),
                             params=[params[i] for i in gr["params"]]) for gr in groups]
        opt = OPTIMIZERS[kind](torch_groups, **snake(options), foreach=False)
    grads, after = [], []
    for step in range(STEPS):
        step_grads = []
        for i, p in enumerate(params):
            gr = torch.randn(p.shape, generator=g)
            if (step, i) == SKIP:
                p.grad = None
                step_grads.append(None)
            else:
                p.grad = gr.clone()
                step_grads.append(packed(gr))
        opt.step()
        grads.append(step_grads)
        after.append([flat(p) for p in params])
    return {
        "name": case_name(kind, options, groups),
        "optimizer": kind,
        "options": options,
        "groups": groups,
        "initial": initial,
        "grads": grads,
        "params": after,
    }


# ---------------------------------------------------------------- schedulers
SCHEDULER_EPOCHS = 30
BASE_LRS = [0.1, 0.05]

LAMBDAS = {
    # must match the functions of the same name in test/schedulers.test.ts
    "exp95": lambda e: 0.95 ** e,
    "warmup5": lambda e: min(1.0, (e + 1) / 5),
}

SCHEDULERS = {
    "StepLR": torch.optim.lr_scheduler.StepLR,
    "MultiStepLR": torch.optim.lr_scheduler.MultiStepLR,
    "ExponentialLR": torch.optim.lr_scheduler.ExponentialLR,
    "CosineAnnealingLR": torch.optim.lr_scheduler.CosineAnnealingLR,
    "LinearLR": torch.optim.lr_scheduler.LinearLR,
    "LambdaLR": torch.optim.lr_scheduler.LambdaLR,
    "ReduceLROnPlateau": torch.optim.lr_scheduler.ReduceLROnPlateau,
}

# Noisy, mostly decreasing metric with plateaus, so plateau scheduling has something to react to.
METRIC = [1.0, 0.9, 0.85, 0.86, 0.84, 0.84, 0.85, 0.83, 0.8, 0.8, 0.8, 0.8, 0.81, 0.7, 0.7,
          0.70001, 0.69, 0.69, 0.69, 0.69, 0.69, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
METRIC_MAX = [1 - m for m in METRIC]

# Each case: a list of schedulers attached to one optimizer (more than one = chained), stepped in order.
SCHEDULER_CASES = [
    [("StepLR", {"stepSize": 4})],
    [("StepLR", {"stepSize": 3, "gamma": 0.5})],
    [("MultiStepLR", {"milestones": [3, 8, 8, 20], "gamma": 0.5})],
    [("ExponentialLR", {"gamma": 0.9})],
    [("CosineAnnealingLR", {"tMax": 30})],
    [("CosineAnnealingLR", {"tMax": 10, "etaMin": 0.001})],
    [("LinearLR", {})],
    [("LinearLR", {"startFactor": 0.1, "endFactor": 0.9, "totalIters": 12})],
    [("LinearLR", {"startFactor": 1.0, "endFactor": 0.2, "totalIters": 20})],
    [("LambdaLR", {"lrLambda": "exp95"})],
    [("LambdaLR", {"lrLambda": ["warmup5", "exp95"]})],
    [("LinearLR", {"startFactor": 0.25, "totalIters": 4}), ("ExponentialLR", {"gamma": 0.95})],
    [("LinearLR", {"startFactor": 0.5, "totalIters": 5}), ("CosineAnnealingLR", {"tMax": 15, "etaMin": 0.002})],
    [("ReduceLROnPlateau", {"patience": 2})],
    [("ReduceLROnPlateau", {"mode": "min", "factor": 0.5, "patience": 1, "threshold": 0.02,
                            "thresholdMode": "abs", "cooldown": 2})],
    [("ReduceLROnPlateau", {"mode": "max", "factor": 0.3, "patience": 1, "minLr": [0.005, 0.01]})],
    [("ReduceLROnPlateau", {"mode": "max", "factor": 0.5, "patience": 0, "threshold": 0.1,
                            "thresholdMode": "rel", "minLr": 0.0055, "eps": 1e-3})],
]


def scheduler_case(chain):
    p = torch.zeros(1, requires_grad=True)
    q = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([{"params": [p], "lr": BASE_LRS[0]}, {"params": [q], "lr": BASE_LRS[1]}], lr=1.0)
    scheds = []
    metric = None
    for kind, options in chain:
        kwargs = snake(options)
        if kind == "LambdaLR":
            fns = kwargs.pop("lrLambda")
            kwargs["lr_lambda"] = [LAMBDAS[f] for f in fns] if isinstance(fns, list) else LAMBDAS[fns]
        if kind == "ReduceLROnPlateau":
            metric = METRIC_MAX if options.get("mode") == "max" else METRIC
        scheds.append(SCHEDULERS[kind](opt, **kwargs))
    lrs = [[gr["lr"] for gr in opt.param_groups]]
    for epoch in range(SCHEDULER_EPOCHS):
        opt.step()
        for s in scheds:
            if isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau):
                s.step(metric[epoch])
            else:
                s.step()
        lrs.append([gr["lr"] for gr in opt.param_groups])
    return {
        "name": " + ".join(f"{k} {json.dumps(o)}" for k, o in chain),
        "schedulers": [{"type": k, "options": o} for k, o in chain],
        "baseLrs": BASE_LRS,
        "metrics": metric,
        "lrs": lrs,
    }


# ---------------------------------------------------------------- clipping
CLIP_SHAPES = [[3, 4], [5], [2, 2], [3]]  # parameter 3 has no gradient


def clip_grads(seed, scale):
    g = torch.Generator().manual_seed(seed)
    grads = [torch.randn(s, generator=g) * scale for s in CLIP_SHAPES]
    grads[3] = None
    return grads


def clip_norm_case(seed, scale, max_norm, norm_type):
    grads = clip_grads(seed, scale)
    params = [torch.zeros(s, requires_grad=True) for s in CLIP_SHAPES]
    for p, gr in zip(params, grads):
        p.grad = None if gr is None else gr.clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
    return {
        "kind": "norm",
        "maxNorm": max_norm,
        "normType": "inf" if norm_type == math.inf else norm_type,
        "grads": [None if gr is None else packed(gr) for gr in grads],
        "totalNorm": float(total),
        "clipped": [None if p.grad is None else flat(p.grad) for p in params],
    }


def clip_value_case(seed, scale, clip_value):
    grads = clip_grads(seed, scale)
    params = [torch.zeros(s, requires_grad=True) for s in CLIP_SHAPES]
    for p, gr in zip(params, grads):
        p.grad = None if gr is None else gr.clone()
    torch.nn.utils.clip_grad_value_(params, clip_value)
    return {
        "kind": "value",
        "clipValue": clip_value,
        "grads": [None if gr is None else packed(gr) for gr in grads],
        "clipped": [None if p.grad is None else flat(p.grad) for p in params],
    }


def main():
    fixture = {
        "torch": torch.__version__,
        "generator": "packages/nn/scripts/gen_optim_fixtures.py",
        "optimizers": [optimizer_case(i, *c) for i, c in enumerate(CASES)],
        "schedulers": [scheduler_case(c) for c in SCHEDULER_CASES],
        "clip": [
            clip_norm_case(1, 1.0, 1.0, 2.0),
            clip_norm_case(2, 1.0, 100.0, 2.0),  # below the threshold: unchanged
            clip_norm_case(3, 2.0, 0.5, 1.0),
            clip_norm_case(4, 3.0, 1.5, math.inf),
            clip_norm_case(5, 1.0, 2.0, 3.0),
            clip_norm_case(6, 0.5, 1.0, math.inf),
            clip_value_case(7, 1.0, 0.5),
            clip_value_case(8, 0.1, 1.0),
        ],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, allow_nan=False)
        f.write("\n")
    print(f"wrote {os.path.relpath(OUT)} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
