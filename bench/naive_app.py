"""The naive baseline of bench/serve_bench.py: what a user would write by hand — a plain FastAPI app with a
sync route doing one forward per request on the registry's active LSTM.

    TEMPORAL_ORDER_DATABASE_URL=sqlite:///var/registry.db uvicorn bench.naive_app:app --port 8001
"""

from __future__ import annotations

import torch
from fastapi import FastAPI
from pydantic import BaseModel

from training.models import one_hot
from training.registry import Registry
from training.sequences import parse

loaded = Registry().load_model("lstm")
model, task = loaded.model.eval(), loaded.task
app = FastAPI()


class Request(BaseModel):
    sequence: str


@app.post("/classify")
def classify(body: Request) -> dict[str, object]:
    tokens = torch.tensor([list(parse(body.sequence).ids)])
    with torch.no_grad():
        probabilities = model(one_hot(tokens), torch.tensor([tokens.shape[1]])).softmax(dim=1)[0]
    index = int(probabilities.argmax())
    return {
        "label": task.class_names[index],
        "class_index": index,
        "probabilities": dict(zip(task.class_names, probabilities.tolist(), strict=True)),
    }
