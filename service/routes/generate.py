"""POST /generate."""

from __future__ import annotations

import asyncio
import secrets

import numpy as np
from fastapi import APIRouter, Response

from service.routes.classify import json_response
from service.schemas import GenerateRequest, GenerateResult
from training.task import SYMBOLS, generate, get_task, make_generator

router = APIRouter(tags=["generate"])

_TO_SYMBOLS = bytes.maketrans(bytes(range(len(SYMBOLS))), "".join(SYMBOLS).encode("ascii"))


def generate_sequences(task_name: str, n: int, seed: int) -> dict[str, object]:
    """`n` sequences of the task from `seed`, with labels and 1-based relevant positions."""
    spec = get_task(task_name)
    batch = generate(spec, n, make_generator(seed))
    rows = batch.tokens.numpy().astype(np.uint8).tobytes().translate(_TO_SYMBOLS).decode("ascii")
    width = batch.tokens.shape[1]
    lengths = batch.lengths.tolist()
    labels = batch.labels.tolist()
    positions = batch.positions.tolist()
    sequences = [
        {
            "sequence": rows[row * width : row * width + lengths[row]],
            "label": spec.class_names[labels[row]],
            "class_index": labels[row],
            "positions": positions[row],
        }
        for row in range(n)
    ]
    return {"task": task_name, "seed": seed, "sequences": sequences}


@router.post("/generate", response_model=GenerateResult)
async def generate_route(body: GenerateRequest) -> Response:
    """Generate labelled sequences of task 6a or 6b (seeded: the same seed gives the same sequences)."""
    seed = body.seed if body.seed is not None else secrets.randbits(62)
    return json_response(await asyncio.to_thread(generate_sequences, body.task, body.n, seed))
