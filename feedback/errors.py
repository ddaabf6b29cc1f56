"""Service errors, each with the HTTP status the API answers with."""

from __future__ import annotations


class ServiceError(Exception):
    """A refused request; ``status`` is its HTTP code and the message its reason."""

    status = 400


class BadToken(ServiceError):
    status = 403


class Unauthorized(ServiceError):
    status = 401


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Gone(ServiceError):
    """Feedback after the decision's TTL (410 Gone: the decision can no longer be rated)."""

    status = 410


class Invalid(ServiceError):
    status = 422


class Unavailable(ServiceError):
    """The service cannot answer now (the prompt encoder failed); the client may retry."""

    status = 503
