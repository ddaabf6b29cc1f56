"""Service errors, each with the HTTP status the API answers with."""

from __future__ import annotations


class ServiceError(Exception):
    """A refused request; ``status`` is its HTTP code and the message its reason."""

    status = 400

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        #: More of the answer's JSON body, beside ``detail`` (say, the stored row of a 409).
        self.extra = extra


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
