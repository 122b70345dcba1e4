"""The OpenAPI 3.1 document served at ``/v1/openapi.json``, generated: nothing here describes an endpoint.

Paths and operations come from the route table (:data:`console.api.routes.OPERATIONS`: each ``@op(...)``
names its operationId, summary, tag, request, query and response models, error codes, local-extension
flag, description and links); the schemas come from the msgspec models the services validate with and
answer from (:mod:`engine.service.models`, :mod:`engine.service.responses`) through
``msgspec.json.schema_components``, so the document cannot drift from what the code accepts and answers.
Request and response schemas are strict (``additionalProperties: false``: unknown fields are refused,
and an answer never holds a key its model does not declare); local extensions carry
``x-local-extension: true``. ``tests/api/test_openapi.py`` checks the document against the route table,
and a schemathesis run checks it against a live server, response schemas included.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable, Iterator
from typing import Any
from zoneinfo import available_timezones

import msgspec
import msgspec.inspect

from console.api.routes import OPERATIONS, TAGS, Operation
from engine.rotation import validate_timezone
from engine.service.models import REQUESTS
from engine.service.responses import Error

Schema = dict[str, Any]

LOCAL = {"x-local-extension": True}
REF = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"{(\w+)}")

# -- the vocabulary of error statuses (what each status means across the API) -----------------------

ERROR_TEXT = {
    400: "Business rule broken (invalid_request_error)",
    401: "missing_authorization_header, invalid_api_key",
    403: "Not permitted",
    404: "not_found: it does not exist or belongs to another organisation",
    409: "Conflict",
    422: "validation_error: wrong type, missing or unknown field, out of range, malformed JSON",
    500: "internal_error (server_error): a bug; quote the requestId",
    503: (
        "Local: the database file cannot be used (database_gone: deleted or replaced, the server exits; "
        "database_read_only: nothing written, retry once it is writable)"
    ),
    507: "Local: disk_full: no space for the database; nothing was written",
}
ADMIN_ONLY = "not_authorized (the key's user is not org:admin)"
SELF_OR_ADMIN = "not_authorized (a member key on another user than its own)"
STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content"}

INFO_DESCRIPTION = """\
The local, offline counterpart of the Scaling API (https://api.scaling.cloud/v1), served by
`oncall serve`. Paths, fields, envelopes, limits and error bodies follow the Scaling reference;
docs/API.md records every choice made where the reference is silent.

* Auth: `Authorization: Bearer scl_live_…` (a key from `oncall init` or `oncall keys create`).
* Success bodies are `{"data": …}`; deletes answer 204 with no body.
* Errors are `{statusCode, type, code, requestId, message}`; every response has an `X-Request-Id`.
* An unknown path is 404 `not_found` and a method a path does not support is 405 `method_not_allowed`
  (with an `Allow` header), both in the same error shape.
* Operations and fields marked `x-local-extension: true` do not exist in the Scaling API.
"""


def ref(name: str) -> Schema:
    return {"$ref": REF.format(name=name)}


def path_params(path: str) -> list[str]:
    """The ``{names}`` of a path, in order."""
    return _PATH_PARAM.findall(path)


# -- schemas from the models -------------------------------------------------------------------------


def _structs(types: Iterable[Any]) -> Iterator[type[msgspec.Struct]]:
    """Every Struct class reachable from ``types`` (fields, lists, unions), each once."""
    seen: set[type] = set()
    stack: list[msgspec.inspect.Type] = list(msgspec.inspect.multi_type_info(list(types)))
    while stack:
        t = stack.pop()
        if isinstance(t, msgspec.inspect.StructType):
            if t.cls in seen:
                continue
            seen.add(t.cls)
            yield t.cls
            stack.extend(f.type for f in t.fields)
        elif isinstance(t, msgspec.inspect.Metadata):
            stack.append(t.type)
        elif isinstance(t, msgspec.inspect.UnionType):
            stack.extend(t.types)
        elif isinstance(
            t, (msgspec.inspect.ListType, msgspec.inspect.SetType, msgspec.inspect.FrozenSetType)
        ):
            stack.append(t.item_type)
        elif isinstance(t, msgspec.inspect.DictType):
            stack.append(t.value_type)


def _model_types() -> list[Any]:
    """Every type the document names: the request models, each operation's request and response, the
    error body."""
    types: list[Any] = [*REQUESTS, Error]
    for operation in OPERATIONS:
        for t in (operation.request, operation.response):
            if t is not None and t not in types:
                types.append(t)
    return types


@functools.cache
def _generated() -> tuple[dict[Any, Schema], dict[str, Schema]]:
    """(the schema of each type of :func:`_model_types`, the components they refer to)."""
    types = _model_types()
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    for cls in _structs(types):
        component = components[cls.__name__]
        component.pop("title", None)
        if not component.get("required", True):
            del component["required"]
        if "description" in component:  # a docstring: one paragraph, not its source line breaks
            component["description"] = " ".join(component["description"].split())
        if getattr(cls, "local_extension", False):
            component.update(LOCAL)
    return dict(zip(types, schemas, strict=True)), components


def _timezones() -> list[str]:
    """The zone names the service accepts (IANA region names and UTC; no abbreviations)."""
    out = []
    for name in sorted(available_timezones()):
        try:
            validate_timezone(name)
        except ValueError:
            continue
        out.append(name)
    return out


def components() -> dict[str, Schema]:
    """Every schema of the document: the models' and the ``Timezone`` enum their ``timezone`` fields
    refer to (generated from the zone database, as :func:`engine.rotation.validate_timezone` decides)."""
    timezone = {
        "type": "string",
        "enum": _timezones(),
        "description": "an IANA region name (e.g. Europe/London) or UTC; abbreviations such as EST are refused",
    }
    return {**copy.deepcopy(_generated()[1]), "Timezone": timezone}


def schema_of(t: Any) -> Schema:
    """The schema (usually a ``$ref``) of a request or response type named by an operation."""
    return copy.deepcopy(_generated()[0][t])


# -- operations from the route table -----------------------------------------------------------------


def _query_parameters(model: type[msgspec.Struct]) -> list[Schema]:
    _, defs = msgspec.json.schema_components([model], ref_template=REF)
    schema = defs[model.__name__]
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema["properties"].items():
        param: Schema = {"name": name, "in": "query", "required": name in required}
        description = prop.pop("description", None)
        param["schema"] = prop
        if description:
            param["description"] = description
        out.append(param)
    return out


def _error(status: int, text: str) -> Schema:
    return {"description": text, "content": {"application/json": {"schema": ref("Error")}}}


def error_statuses(operation: Operation) -> dict[int, list[str]]:
    """Every error status ``operation`` can answer, with its codes: the declared ones, plus 401 (with
    not_authorized for admin and per-user operations), 404 for a path id, 422 for a body or a query
    string, 500, 503 and, for writes, 507."""
    found: dict[int, list[str]] = {401: []}
    if operation.admin:
        found[401].append(ADMIN_ONLY)
    if operation.self_or_admin is not None:
        found[401].append(SELF_OR_ADMIN)
    if path_params(operation.path):
        found[404] = []
    if operation.request is not None or operation.query is not None:
        found[422] = []
    for status, codes in operation.errors.items():
        found.setdefault(status, []).extend(codes)
    found[500] = []
    found[503] = []
    if operation.writes:
        found[507] = []
    return dict(sorted(found.items()))


def _error_text(status: int, codes: list[str]) -> str:
    base = ERROR_TEXT[status]
    if not codes:
        return base
    return f"{base}, {', '.join(codes)}" if status == 401 else f"{base}: {', '.join(codes)}"


def _success(operation: Operation) -> Schema:
    out: Schema = {
        "description": STATUS_TEXT.get(operation.status, "OK"),
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}},
    }
    if operation.status != 204:
        data = schema_of(operation.response)
        out["content"] = {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"data": data},
                    "required": ["data"],
                    "additionalProperties": False,
                }
            }
        }
    return out


_NEW_ID = "$response.body#/data/id"


def _links(operation: Operation, by_id: dict[str, Operation]) -> Schema:
    """OpenAPI links from a create to the operations on what it created (they also drive schemathesis's
    stateful phase): the target's path ids shared with this path come from the request, the one new id
    from the answer's ``data.id``."""
    mine = set(path_params(operation.path))
    out: Schema = {}
    for op_id in operation.links:
        target = by_id[op_id]
        params = {}
        for name in path_params(target.path):
            params[name] = f"$request.path.{name}" if name in mine else _NEW_ID
        out[op_id[0].upper() + op_id[1:]] = {"operationId": op_id, "parameters": params}
    return out


def operation_object(operation: Operation, by_id: dict[str, Operation]) -> Schema:
    """The OpenAPI operation object of one route."""
    out: Schema = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in path_params(operation.path)
    ]
    if operation.query is not None:
        parameters += _query_parameters(operation.query)
    if parameters:
        out["parameters"] = parameters
    if operation.request is not None:
        out["requestBody"] = {
            "required": operation.body == "required",
            "content": {"application/json": {"schema": schema_of(operation.request)}},
        }
    success = _success(operation)
    if operation.links:
        success["links"] = _links(operation, by_id)
    responses: Schema = {str(operation.status): success}
    for status, codes in error_statuses(operation).items():
        responses[str(status)] = _error(status, _error_text(status, codes))
    out["responses"] = responses
    if operation.precheck is not None:
        out["security"] = []  # authenticated by its path (an inbound integration's URL token), not a key
    description = operation.description
    if operation.local:
        out["x-local-extension"] = True
        description = "**Local extension** (not in the Scaling API). " + (description or "")
    if description:
        out["description"] = description
    return out


def paths() -> dict[str, dict[str, Schema]]:
    by_id = {o.operation_id: o for o in OPERATIONS}
    out: dict[str, dict[str, Schema]] = {}
    for operation in OPERATIONS:
        out.setdefault(operation.path, {})[operation.method.lower()] = operation_object(operation, by_id)
    return out


def document() -> dict[str, Any]:
    """A fresh document (callers may mutate it)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "oncall local Scaling-compatible API",
            "version": "1",
            "description": INFO_DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": t} for t in TAGS],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "scl_live_… API key"}
            },
            "headers": {
                "RequestId": {
                    "description": "a UUID4 naming this request",
                    "schema": {"type": "string", "format": "uuid"},
                }
            },
            "schemas": components(),
        },
    }
