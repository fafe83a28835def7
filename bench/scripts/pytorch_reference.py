"""PyTorch 1.13 reference figures for the `lstm` section, measured outside `pnpm bench` (which runs in Node).

The same models as bench/src/sections/lstm.ts: an LSTM or GRU (batch 32, 50 steps, input 64, hidden 128, one
layer) with a linear head on the last step's output, MSE loss, Adam (lr 1e-3); one training step is zero_grad,
forward, loss, backward, optimizer step. One thread, float32. Prints the median and best of several samples,
in ms. Debian's torch uses whichever BLAS provides libblas.so.3: install libopenblas0-pthread first (the
reference BLAS is ~10x slower). Run: /usr/bin/python3 bench/scripts/pytorch_reference.py
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # read when the BLAS loads, so before torch is imported

import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(0)
B, T, I, H = 32, 50, 64, 128


class Regressor(torch.nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn(I, H)
        self.head = torch.nn.Linear(H, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[-1])


def timed(fn, samples=15, calls=10):
    for _ in range(calls):
        fn()
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls * 1000)
    return statistics.median(times), min(times)


x = torch.randn(T, B, I)
y = torch.randn(B, 1)
for name, rnn in [("LSTM", torch.nn.LSTM), ("GRU", torch.nn.GRU)]:
    model = Regressor(rnn)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()

    def forward():
        with torch.no_grad():
            model(x)

    for label, fn in [("train step", step), ("forward", forward)]:
        median, best = timed(fn)
        print(f"{name} {label}: {median:.2f} ms median ({best:.2f} best)")
