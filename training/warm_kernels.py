"""Compile every numba kernel the trainer and the server run, or load it from numba's cache, by running each
architecture once on a tiny input: a short training trial, a forward with gradients (what `explain` runs), and
the served forward serial and parallel. Run it where the code will run, before the first user does — in a
Docker image at build time — so that a fresh process loads compiled code (well under a second) instead of
compiling it (tens of seconds).

    python -m training.warm_kernels

numba caches per CPU model and features: code compiled on one machine is reused only on the same kind of CPU
(or everywhere, at some cost in speed, with NUMBA_CPU_NAME/NUMBA_CPU_FEATURES pinned to a baseline).
"""

from __future__ import annotations

import time

import torch

from training.models import ARCHITECTURES
from training.task import generate, get_task, make_generator
from training.train import default_train_config, train_trial

# Large enough to reach the parallel serving kernels (they start at 256 sequences), small enough to be quick.
_SERVED_BATCH = 256


def warm_architecture(arch: str) -> None:
    task = get_task("6b")
    config = default_train_config(arch, task, max_sequences=64, curve_every=64)
    model = train_trial(task, arch=arch, train_config=config, seed=0).model
    batch = generate(task, _SERVED_BATCH, make_generator(0))
    model.training_step(batch.tokens[:2], batch.lengths[:2], batch.labels[:2])  # the mini-batch step
    model.forward_tokens(batch.tokens[:2], batch.lengths[:2]).sum().backward()
    model.eval()
    with torch.no_grad():
        model.forward_tokens(batch.tokens[:1], batch.lengths[:1])
        model.forward_tokens(batch.tokens, batch.lengths, threads=2)
    kernel = model.inference_kernel(torch.device("cpu"))
    if kernel is not None:
        tokens, lengths = batch.tokens.numpy(), batch.lengths.numpy()
        kernel.probabilities(tokens[:1], lengths[:1])
        kernel.probabilities(tokens, lengths, threads=2)


def main() -> None:
    for arch in ARCHITECTURES:
        started = time.perf_counter()
        warm_architecture(arch)
        print(f"{arch}: kernels ready in {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
