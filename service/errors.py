"""Domain exceptions raised below the routes, and the one place that turns any error into `ErrorBody`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.schemas import ErrorBody, ErrorDetail
from training.registry import JobNotFound, RegistryError, VersionNotFound
from training.sequences import InvalidSequence

logger = logging.getLogger("service.errors")


class ServiceError(Exception):
    """An error a client can act on: its status, kind, message and optional details and hint."""

    status_code = 400
    kind = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: list[ErrorDetail] | None = None,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.hint = hint
        self.headers = headers

    def body(self) -> ErrorBody:
        return ErrorBody(error=self.kind, message=self.message, details=self.details, hint=self.hint)


class InvalidInput(ServiceError):
    status_code = 422
    kind = "validation_error"


class NotFound(ServiceError):
    status_code = 404
    kind = "not_found"


class Conflict(ServiceError):
    status_code = 409
    kind = "conflict"


class Unauthorized(ServiceError):
    status_code = 401
    kind = "unauthorized"


class ModelNotReady(ServiceError):
    status_code = 503
    kind = "model_not_ready"


class RegistryUnavailable(ServiceError):
    status_code = 503
    kind = "registry_unavailable"


# The one hint of every 413, whichever layer (the middleware before or while reading, FastAPI) noticed the size.
BODY_TOO_LARGE_HINT = "split the sequences over several /classify/batch requests"


def too_large_body(limit: int) -> ErrorBody:
    return ErrorBody(
        error="body_too_large", message=f"the request body exceeds the limit of {limit} bytes", hint=BODY_TOO_LARGE_HINT
    )


def invalid_sequence(error: InvalidSequence, loc: list[str | int]) -> InvalidInput:
    """A bad symbol string as a 422 naming the field and, when known, the 1-based symbol position."""
    where = f" (position {error.position})" if error.position is not None else ""
    return InvalidInput(
        f"{'.'.join(str(part) for part in loc[1:])}: {error.message}",
        details=[ErrorDetail(loc=loc, msg=error.message, type="invalid_sequence", position=error.position)],
        hint=f"use only the symbols E a b c d X Y B{where}",
    )


def error_response(status_code: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status_code, content=body.model_dump(mode="json"), headers=headers)


def _plain(value: Any) -> str | int:
    return value if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _validation_details(errors: list[dict[str, Any]]) -> list[ErrorDetail]:
    return [
        ErrorDetail(
            loc=[_plain(part) for part in error.get("loc", ())],
            msg=str(error.get("msg", "invalid value")),
            type=str(error.get("type", "value_error")),
        )
        for error in errors
    ]


def _describe(detail: ErrorDetail) -> str:
    where = ".".join(str(part) for part in detail.loc[1:]) if len(detail.loc) > 1 else ".".join(map(str, detail.loc))
    return f"{where}: {detail.msg}" if where else detail.msg


def service_error_response(error: ServiceError) -> JSONResponse:
    return error_response(error.status_code, error.body(), error.headers)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return service_error_response(exc)


JSON_HINT = "send a JSON object with Content-Type: application/json"


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI parses a body without a Content-Type as JSON
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _unsupported_media_type(content_type: str) -> JSONResponse:
    media = content_type.split(";", 1)[0].strip()[:100]
    body = ErrorBody(error="unsupported_media_type", message=f"the body must be JSON, not {media!r}", hint=JSON_HINT)
    return error_response(415, body)


def _unparsable_body(cause: BaseException | None) -> ErrorBody:
    """Why FastAPI could not parse a body, from the error it wrapped as "There was an error parsing the body"."""
    if isinstance(cause, UnicodeDecodeError):
        message = f"the request body is not valid UTF-8 (byte {cause.object[cause.start]:#04x} at offset {cause.start})"
    elif isinstance(cause, RecursionError):
        message = "the request body is JSON nested too deeply"
    elif isinstance(cause, ValueError) and "digits" in str(cause):
        message = "a number in the request body has too many digits"
    else:
        message = "the request body could not be parsed as JSON"
    return ErrorBody(error="invalid_json", message=message, hint=JSON_HINT)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    content_type = request.headers.get("content-type")
    if not _is_json(content_type) and any(error.get("loc") == ("body",) for error in exc.errors()):
        return _unsupported_media_type(content_type or "")
    details = _validation_details(list(exc.errors()))
    if any(d.type == "json_invalid" for d in details):
        body = ErrorBody(
            error="invalid_json",
            message="the request body is not valid JSON",
            details=details,
            hint=JSON_HINT,
        )
        return error_response(400, body)
    message = "; ".join(_describe(d) for d in details[:3]) or "the request is not valid"
    if len(details) > 3:
        message += f"; and {len(details) - 3} more"
    return error_response(422, ErrorBody(error="validation_error", message=message, details=details))


_HTTP_KINDS = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = _HTTP_KINDS.get(exc.status_code, "http_error")
    hint = None
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        return error_response(400, _unparsable_body(exc.__cause__))
    if exc.status_code == 413:
        hint = BODY_TOO_LARGE_HINT
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no route {request.method} {request.url.path}; see /docs for the API"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    body = ErrorBody(error=kind, message=message, hint=hint)
    return error_response(exc.status_code, body, dict(exc.headers or {}))


async def _registry_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, JobNotFound | VersionNotFound):
        return error_response(404, ErrorBody(error="not_found", message=str(exc)))
    # Database errors carry SQL and its parameters: they go to the log only.
    logger.error("registry error on %s %s: %s", request.method, request.url.path, exc, exc_info=exc)
    body = ErrorBody(error="registry_error", message="the model registry could not answer", hint="retry later")
    return error_response(503, body)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    body = ErrorBody(error="internal_error", message="the server hit an unexpected error; it has been logged")
    return error_response(500, body)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RegistryError, _registry_error)
    app.add_exception_handler(SQLAlchemyError, _registry_error)
    app.add_exception_handler(Exception, _unexpected)
