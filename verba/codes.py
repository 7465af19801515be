"""Result codes of the Business API and the one exception every failure becomes."""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    OK = 0
    INVALID_REQUEST = 1
    NOT_FOUND = 2
    AMBIGUOUS = 3
    INVALID_KEY = 4
    AUTHENTICATION_FAILED = 5
    ACCESS_DENIED = 6
    TOO_MANY_REQUESTS = 7
    UNAVAILABLE = 9

    @property
    def http_status(self) -> int:
        # API outcomes are HTTP 200 (Verba clients treat other statuses as transport
        # failures); only throttling and an unavailable backend say otherwise.
        return {Code.TOO_MANY_REQUESTS: 429, Code.UNAVAILABLE: 503}.get(self, 200)


# Fixed sentences: never a key, token or password, never a hint that a key "almost" matched.
class Message:
    BODY_UNREADABLE = (
        "The request body must be application/x-www-form-urlencoded or multipart/form-data."
    )
    BODY_CHARSET = "The request body's charset cannot be decoded; send it as UTF-8."
    BODY_STOPPED = "The request body stopped arriving before its Content-Length; send it again."
    TOO_LARGE = "The request has too many parameters or is too large."
    FILE_TOO_LARGE = "A recording may be at most {limit} bytes; the uploaded file is larger."
    RESPONSE_TYPE = "The responseType parameter must be XML, HTML, TEXT or JSON."
    RESPONSE_TYPE_REPEATED = "The responseType parameter is given more than once."
    ACTION_MISSING = "The action parameter is missing."
    ACTION_REPEATED = "The action parameter is given more than once."
    ACTION_UNKNOWN = "The action is not known."
    REPEATED = "The parameter {name} is given more than once."
    REPEATED_OTHER = "A parameter is given more than once."
    KEY_TWICE = "Give the API key either as the apiKey parameter or as the X-Api-Key header."
    TOKEN_TWICE = "Give the token either as the token parameter or as the X-Api-Token header."  # noqa: S105 - a message, not a secret
    METHOD = "Only GET and POST are supported."
    KEY_MISSING = "The API key is missing."
    KEY_INVALID = "The API key is invalid, revoked or expired."
    TOKEN_MISSING = "A token is required: request one with action RequestToken."  # noqa: S105 - a message, not a secret
    TOKEN_INVALID = "The token is invalid, expired or released."  # noqa: S105 - a message, not a secret
    CREDENTIALS_MISSING = "A user name and password are required."
    CREDENTIALS_TWICE = (
        "Give the credentials either as HTTP Basic authentication or as userName and password."
    )
    CREDENTIALS_WRONG = "The user name or password is wrong."
    ADDRESS_DENIED = "Access denied: this API key may not be used from this address."
    KEY_DENIED = "Access denied: this API key may not query the Business API."
    KEY_MAY_NOT_CHANGE = "Access denied: this API key may not change calls."
    KEY_MAY_NOT_INGEST = "Access denied: this API key may not upload calls."
    USER_DENIED = "Access denied: the user may not view calls."
    USER_MAY_NOT_CHANGE = "Access denied: the user may not change calls."
    USER_MAY_NOT_DELETE = "Access denied: the user may not delete calls."
    USER_MAY_NOT_ADD = "Access denied: the user may not add calls."
    THROTTLED = "Too many requests; try again later."
    TOKEN_THROTTLED = "Too many RequestToken attempts; try again later."  # noqa: S105 - a message, not a secret
    LOCKED_OUT = (
        "Too many failed logins for this user name or from this address; logins are refused "
        "for a while. Try again later, or ask an administrator to unlock it."
    )
    UNAVAILABLE = "The service is temporarily unavailable; nothing was changed. Try again later."
    # Refused by Django before the Business API saw the request (see refused_request).
    HOST_REFUSED = "The request's Host header names a host this server does not serve."
    REQUEST_REFUSED = "The request is malformed and was refused."


class ApiError(Exception):
    """A failure answered as (code, message) in the requested format."""

    def __init__(self, code: Code, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}


def invalid(message: str) -> ApiError:
    return ApiError(Code.INVALID_REQUEST, message)


def call_not_found(doing: str) -> ApiError:
    """Code 2 in Verba's own wording, the one builder of it: `doing` is what the request
    asked for, e.g. "retrieve the call URL" → "Unable to retrieve the call URL, because the
    call cannot be found." """
    return ApiError(Code.NOT_FOUND, f"Unable to {doing}, because the call cannot be found.")


def ambiguous_calls(doing: str) -> ApiError:
    """Code 3, worded as `call_not_found`: "Unable to …, because more than one call
    matches." """
    return ApiError(Code.AMBIGUOUS, f"Unable to {doing}, because more than one call matches.")
