"""Errors as ``application/problem+json`` (RFC 9457), each with a ``class`` naming the failure."""

from __future__ import annotations

import json
import logging
import math

from aiohttp import web

from protocol import Rejected

PROBLEM_TYPE = "application/problem+json"
log = logging.getLogger("rakuichi.api")

STATUS_OF_CLASS = {"size": 413, "policy": 403, "quota": 429}


class ApiError(Exception):
    """An error a handler raises; the gate turns it into a problem document."""

    def __init__(
        self,
        status: int,
        klass: str,
        detail: str,
        title: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.klass, self.detail = status, klass, detail
        self.title = title or klass.replace("-", " ")
        self.retry_after = retry_after  # seconds, sent as Retry-After (429 always has one)
        self.headers = headers or {}


def bad_request(detail: str) -> ApiError:
    return ApiError(400, "bad-request", detail, "bad request")


def refusal(exc: Rejected) -> ApiError:
    """The problem for a refused record: 413 size, 403 policy, 422 otherwise."""
    return ApiError(
        STATUS_OF_CLASS.get(exc.klass, 422),
        exc.klass,
        exc.detail,
        f"record refused ({exc.klass})",
        getattr(exc, "retry_after", None),  # a spent quota says when to come back
    )


def problem_response(
    status: int,
    klass: str,
    title: str,
    detail: str,
    instance: str = "",
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "class": klass,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    return web.Response(
        status=status, text=json.dumps(body), content_type=PROBLEM_TYPE, headers=headers
    )


_CLASS_OF_STATUS = {
    404: "not-found",
    405: "method-not-allowed",
    413: "size",
    415: "unsupported-media-type",
    400: "bad-request",
    403: "policy",
    429: "rate-limited",
    401: "unauthorized",
}


def problem_of(request: web.Request, exc: Exception) -> web.Response:
    """The problem document answering ``exc``: an ``ApiError``, an aiohttp HTTP error (4xx and
    5xx: redirects are the caller's to re-raise) or anything else (500, logged)."""
    if isinstance(exc, ApiError):
        response = problem_response(
            exc.status, exc.klass, exc.title, exc.detail, request.path, exc.headers
        )
        if exc.retry_after is not None or exc.status == 429:
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after or 1)))
        return response
    if isinstance(exc, web.HTTPException):
        klass = _CLASS_OF_STATUS.get(exc.status, "http-error")
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        if exc.status == 404:
            detail = f"no route for {request.method} {request.path}"
        elif exc.status == 405:
            detail = f"{request.method} is not allowed on {request.path}"
        elif exc.status == 413:
            detail = f"request body is over this node's limit ({detail})"
        kept = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return problem_response(exc.status, klass, exc.reason, detail, request.path, kept)
    log.error("internal error on %s %s", request.method, request.path, exc_info=exc)
    return problem_response(
        500,
        "internal",
        "internal error",
        "the node failed to answer this request; see its log",
        request.path,
    )
