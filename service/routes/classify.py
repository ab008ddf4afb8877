"""POST /classify and /classify/batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pydantic_core
from fastapi import APIRouter, Response

from service.deps import MetricsDep, PoolDep, SettingsDep
from service.errors import InvalidInput, invalid_sequence
from service.inference import Served
from service.schemas import ClassifyBatchRequest, ClassifyBatchResult, ClassifyRequest, ClassifyResult, ErrorDetail
from service.sequences import Parsed, check_many, check_parsed, pad_parsed, parse
from training.task import InvalidSequence, SequenceCheck

router = APIRouter(tags=["classify"])

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


def result_dict(served: Served, sequence: Parsed, probabilities: np.ndarray) -> dict[str, Any]:
    """The result of one classified sequence, its rule check included."""
    checked = check_parsed(sequence, served.task)
    return result_row(served, int(probabilities.argmax()), probabilities.tolist(), checked)


def batch_results(served: Served, probabilities: np.ndarray, checks: list[SequenceCheck]) -> list[dict[str, Any]]:
    """`result_row` for a whole batch, with the NumPy conversions done once for all rows."""
    return [
        result_row(served, index, row, checked)
        for index, row, checked in zip(
            probabilities.argmax(axis=1).tolist(), probabilities.tolist(), checks, strict=True
        )
    ]


def json_response(content: Any) -> Response:
    return Response(pydantic_core.to_json(content), media_type="application/json")


@router.post("/classify", response_model=ClassifyResult)
async def classify(body: ClassifyRequest, pool: PoolDep) -> Response:
    """Classify one sequence (optionally with a per-position attribution)."""
    try:
        sequence = parse(body.sequence)
    except InvalidSequence as error:
        raise invalid_sequence(error, ["body", "sequence"]) from None
    if body.explain:
        served, row, scores, method = await pool.explain(body.arch, sequence)
        result = result_dict(served, sequence, row)
        result["attribution"], result["attribution_method"] = scores, method
    else:
        served, row = await pool.classify_one(body.arch, sequence)
        result = result_dict(served, sequence, row)
    return json_response(result)


@router.post("/classify/batch", response_model=ClassifyBatchResult)
async def classify_batch(
    body: ClassifyBatchRequest, pool: PoolDep, settings: SettingsDep, metrics: MetricsDep
) -> Response:
    """Classify up to the configured limit of sequences (default 1024), answered in order."""
    if len(body.sequences) > settings.max_batch:
        raise InvalidInput(
            f"sequences: {len(body.sequences)} sequences exceed the limit of {settings.max_batch} per request",
            details=[
                ErrorDetail(loc=["body", "sequences"], msg=f"at most {settings.max_batch} items", type="too_long")
            ],
            hint="split them over several requests",
        )
    parsed: list[Parsed] = []
    errors: list[ErrorDetail] = []
    first: InvalidInput | None = None
    for index, text in enumerate(body.sequences):
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
    served, forward = pool.start_padded(body.arch, tokens, lengths)
    metrics.observe_batch(served.arch, "batch", len(parsed))
    checks = check_many(parsed, tokens.numpy(), lengths.numpy(), served.task)  # while the forward runs
    probabilities = await forward
    return json_response({"results": batch_results(served, probabilities, checks)})
