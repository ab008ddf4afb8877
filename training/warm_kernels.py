"""Compile every numba kernel the trainer and the server run, or load it from numba's cache, by running each
architecture once on a tiny input: a short training trial, the mini-batch training step, and the compiled forward
(training/kernels.py) serial and parallel. Run it where the code will run, before the first user does — in a Docker
image at build time — so that a fresh process loads compiled code instead of compiling it.

    python -m training.warm_kernels

numba caches per CPU model and features: code compiled on one machine is reused only on the same kind of CPU
(or everywhere, at some cost in speed, with NUMBA_CPU_NAME/NUMBA_CPU_FEATURES pinned to a baseline).
"""

from __future__ import annotations

import time

import torch

from training import kernels
from training.architectures import ARCHITECTURES
from training.task import generate, get_task, make_generator
from training.train import default_train_config, train_trial


def warm_architecture(arch: str) -> None:
    task = get_task("6b")
    config = default_train_config(arch, task, max_sequences=64, curve_every=64)
    # The trainer's own step (and on-line learner, for lstm1997); then the mini-batch step of the other gradient
    # settings a job may ask for, and the compiled forward, serial and parallel.
    model = train_trial(task, arch=arch, train_config=config, seed=0).model
    batch = generate(task, 4, make_generator(0))
    step = kernels.compiled_train_step(model, config.gradient)
    if step is not None:
        step(batch.tokens[:2], batch.lengths[:2], batch.labels[:2])
    forward = kernels.compiled_forward(model, torch.device("cpu"))
    if forward is not None:
        tokens, lengths = batch.tokens.numpy(), batch.lengths.numpy()
        forward(tokens[:1], lengths[:1])
        forward(tokens, lengths, threads=2)


def main() -> None:
    for arch in ARCHITECTURES:
        started = time.perf_counter()
        warm_architecture(arch)
        print(f"{arch}: kernels ready in {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
