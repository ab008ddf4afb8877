"""Classifying, apart from HTTP: a request in, the response as plain data out, a `ServiceError` for anything the
client must fix. POST /classify and /classify/batch (service/routes/classify.py) and the fast lane in front of
the single one (service/fast_lane.py) all answer through these functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from service.errors import InvalidInput, invalid_sequence
from service.inference import InferencePool, Served
from service.metrics import ServiceMetrics
from service.schemas import ClassifyBatchRequest, ClassifyRequest, ErrorDetail
from service.settings import ServiceSettings
from training.sequences import InvalidSequence, Parsed, SequenceCheck, check, check_many, pad_parsed, parse

MAX_REPORTED_ERRORS = 20


def result_row(served: Served, index: int, probabilities: list[float], checked: SequenceCheck) -> dict[str, Any]:
    """One ClassifyResult as plain data (serialised without a second validation pass)."""
    names = served.task.class_names
    return {
        "label": names[index],
        "class_index": index,
        "probabilities": dict(zip(names, probabilities, strict=True)),
        "arch": served.arch,
        "model_version": served.version,
        "rule_label": None if checked.rule_label is None else names[checked.rule_label],
        "in_distribution": checked.in_distribution,
        "problems": list(checked.problems),
        "attribution": None,
        "attribution_method": None,
    }


async def classify_one(pool: InferencePool, request: ClassifyRequest) -> dict[str, Any]:
    """One sequence: its ClassifyResult, with a per-position attribution when `explain` asks for one."""
    try:
        sequence = parse(request.sequence)
    except InvalidSequence as error:
        raise invalid_sequence(error, ["body", "sequence"]) from None
    if request.explain:
        served, row, scores, method = await pool.explain(request.arch, sequence)
    else:
        served, row = await pool.classify_one(request.arch, sequence)
    result = result_row(served, int(row.argmax()), row.tolist(), check(sequence, served.task))
    if request.explain:
        result["attribution"], result["attribution_method"] = scores, method
    return result


async def classify_many(
    pool: InferencePool, request: ClassifyBatchRequest, settings: ServiceSettings, metrics: ServiceMetrics
) -> dict[str, Any]:
    """Up to `settings.max_batch` sequences: one ClassifyResult each, in order (ClassifyBatchResult)."""
    if len(request.sequences) > settings.max_batch:
        raise InvalidInput(
            f"sequences: {len(request.sequences)} sequences exceed the limit of {settings.max_batch} per request",
            details=[
                ErrorDetail(loc=["body", "sequences"], msg=f"at most {settings.max_batch} items", type="too_long")
            ],
            hint="split them over several requests",
        )
    parsed = _parse_all(request.sequences)
    # Each sequence is bounded by the parser; the request as a whole by this, so that one request cannot hold
    # the inference thread for long.
    symbols = sum(len(sequence.ids) for sequence in parsed)
    if symbols > settings.max_batch_symbols:
        raise InvalidInput(
            f"sequences: {symbols} symbols in all exceed the limit of {settings.max_batch_symbols} per request",
            details=[
                ErrorDetail(
                    loc=["body", "sequences"], msg=f"at most {settings.max_batch_symbols} symbols", type="too_long"
                )
            ],
            hint="split them over several requests",
        )
    tokens, lengths = pad_parsed(parsed)
    served, forward = pool.start_padded(request.arch, tokens, lengths)
    metrics.observe_batch(served.arch, "batch", len(parsed))
    checks = check_many(parsed, tokens.numpy(), lengths.numpy(), served.task)  # while the forward runs
    probabilities: np.ndarray = await forward
    results = [
        result_row(served, index, row, checked)
        for index, row, checked in zip(
            probabilities.argmax(axis=1).tolist(), probabilities.tolist(), checks, strict=True
        )
    ]
    return {"results": results}


def _parse_all(texts: list[str]) -> list[Parsed]:
    """Every sequence parsed, or one InvalidInput naming the first bad ones (up to MAX_REPORTED_ERRORS)."""
    parsed: list[Parsed] = []
    errors: list[ErrorDetail] = []
    first: InvalidInput | None = None
    for index, text in enumerate(texts):
        try:
            parsed.append(parse(text))
        except InvalidSequence as error:
            problem = invalid_sequence(error, ["body", "sequences", index])
            first = first or problem
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.extend(problem.details)
    if first is not None:
        more = f" ({len(errors)} invalid sequences reported)" if len(errors) > 1 else ""
        raise InvalidInput(first.message + more, details=errors, hint=first.hint)
    return parsed
