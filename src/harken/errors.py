"""One exception tree; each error knows its HTTP status. Dialects map these in one place."""

from __future__ import annotations


class HarkenError(Exception):
    """Base of every error harken raises on purpose."""

    status_code: int = 500
    code: str = "internal_error"
    type: str = "server_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequest(HarkenError):
    status_code = 400
    code = "invalid_request"
    type = "invalid_request_error"


class AudioDecodeError(InvalidRequest):
    """The bytes are not audio we can decode (corrupt, truncated, empty, not audio)."""

    code = "invalid_audio"


class UnsupportedMediaType(HarkenError):
    status_code = 415
    code = "unsupported_media_type"
    type = "invalid_request_error"


class PayloadTooLarge(HarkenError):
    status_code = 413
    code = "payload_too_large"
    type = "invalid_request_error"


class Unauthorized(HarkenError):
    status_code = 401
    code = "invalid_api_key"
    type = "authentication_error"


class Forbidden(HarkenError):
    """The request names something the server may not touch (e.g. a file outside allowed dirs)."""

    status_code = 403
    code = "forbidden"
    type = "invalid_request_error"


class NotFound(HarkenError):
    status_code = 404
    code = "not_found"
    type = "invalid_request_error"


class Conflict(HarkenError):
    """The resource is not in a state that allows the operation."""

    status_code = 409
    code = "conflict"
    type = "invalid_request_error"


class ModelNotFound(HarkenError):
    status_code = 404
    code = "model_not_found"
    type = "invalid_request_error"


class ModelUnavailable(HarkenError):
    """A model exists in the catalog but could not be fetched or loaded."""

    status_code = 503
    code = "model_unavailable"
    type = "server_error"


class Cancelled(HarkenError):
    """The client went away; the work was stopped."""

    status_code = 499
    code = "cancelled"


class MissingDependency(HarkenError):
    """An optional extra is not installed; the message names the install command."""

    status_code = 501
    code = "missing_dependency"

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module} is not installed; install it with: pip install 'harken[{extra}]'"
        )


def require(module: str, extra: str) -> object:
    """Import an optional dependency, or fail with the command that installs it (httpx style)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependency(module, extra) from exc
