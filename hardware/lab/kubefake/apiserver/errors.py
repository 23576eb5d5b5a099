"""The API server's errors as metav1.Status objects, with the real reasons and messages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ApiError(Exception):
    """An error the API server answers with a Status object."""

    code: int
    """HTTP status code."""
    reason: str
    """metav1.StatusReason (NotFound, AlreadyExists, Forbidden, ...)."""
    message: str
    """Human-readable message, as the real server words it."""
    details: dict[str, object] = field(default_factory=dict)
    """metav1.StatusDetails (name, group, kind, causes)."""

    def __str__(self) -> str:
        return self.message

    def status(self) -> dict[str, object]:
        """The Status object (field order as the real server's JSON)."""
        body: dict[str, object] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                   "status": "Failure", "message": self.message, "reason": self.reason}
        if self.details:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(name: str, resource: str, group: str) -> dict[str, object]:
    details: dict[str, object] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = resource
    return details


def qualified(resource: str, group: str) -> str:
    """`resource.group` for a named group, plain `resource` for the core group."""
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    """404 for a missing object."""
    return ApiError(404, "NotFound", f'{qualified(resource, group)} "{name}" not found',
                    _details(name, resource, group))


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    """409 for a create over an existing name."""
    return ApiError(409, "AlreadyExists", f'{qualified(resource, group)} "{name}" already exists',
                    _details(name, resource, group))


def conflict(resource: str, name: str, group: str = "") -> ApiError:
    """409 for an update with a stale resourceVersion."""
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": the object has '
                    "been modified; please apply your changes to the latest version and try again",
                    _details(name, resource, group))


def invalid(kind: str, name: str, causes: list[tuple[str, str]], group: str = "") -> ApiError:
    """422 for a failed validation; causes are (field, message) pairs."""
    text = "; ".join(f"{f}: {m}" for f, m in causes)
    prefix = f"{kind}.{group}" if group else kind
    message = f'{prefix} "{name}" is invalid: {text}' if len(causes) == 1 else \
        f'{prefix} "{name}" is invalid: [{", ".join(f"{f}: {m}" for f, m in causes)}]'
    details: dict[str, object] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes]
    return ApiError(422, "Invalid", message, details)


def bad_request(message: str) -> ApiError:
    """400 for a request that cannot be understood."""
    return ApiError(400, "BadRequest", message)


def forbidden(user: str, verb: str, resource: str, group: str, namespace: str, name: str,
              subresource: str = "") -> ApiError:
    """403 as the RBAC authorizer words it."""
    target = f"{resource}/{subresource}" if subresource else resource
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    subject = f'{qualified(resource, group)} "{name}"' if name else qualified(resource, group)
    return ApiError(403, "Forbidden",
                    f'{subject} is forbidden: User "{user}" cannot {verb} resource "{target}" '
                    f'in API group "{group}" {scope}', _details(name, resource, group))


def unauthorized() -> ApiError:
    """401 for credentials that do not authenticate."""
    return ApiError(401, "Unauthorized", "Unauthorized")


def method_not_allowed() -> ApiError:
    """405 for a verb the resource does not support."""
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def no_such_path() -> ApiError:
    """404 for a path that names no resource."""
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def unsupported_media_type(accepted: list[str]) -> ApiError:
    """415 for a body in a format this resource does not take."""
    return ApiError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: "
                    + ", ".join(accepted))
