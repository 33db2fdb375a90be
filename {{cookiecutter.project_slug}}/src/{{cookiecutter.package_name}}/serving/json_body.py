"""The one-pass JSON body: how every endpoint that takes a body reads it.

FastAPI's own body path decodes the bytes with ``json.loads`` into Python objects, then validates
those objects against the model: two passes and a tree of Python objects in between, most of the
cost of a large batch. Here pydantic validates the bytes directly (``model_validate_json``, one
pass), with the same checks and the same answers: problems are raised as FastAPI's
``RequestValidationError``, which ``errors.py`` answers 400 (malformed JSON) or 422 (every problem
found), and a body without a Content-Type is read as JSON, as FastAPI did before its strict
content-type check. Large bodies are parsed on a thread, off the event loop. The measurements are
in docs/benchmarks.md ("Prediction service").

An endpoint takes its body as a dependency, ``trip: Annotated[Trip, Depends(json_body(Trip))]``,
and its route declares it with ``openapi_extra=request_body(Trip)``: FastAPI cannot see a body
read inside a dependency, and ``openapi_extra`` is its documented hook for bodies read by hand.
The size limit and the deadline of a body stay in ``middleware.BodySizeLimitMiddleware``, which
sees the bytes before this does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

# Bodies from this size on (about 500 trips) are parsed on a worker thread, so that the event loop
# keeps answering during a large parse; below it, the hand-off costs more than the parse.
THREAD_PARSE_MIN_BYTES = 64 * 1024
# One thread for the process, shared by every app in it: parses hold the GIL, so a second thread
# would only take turns with the first. It holds no app's state.
PARSER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse")
DEFINITIONS = "#/$defs/"


def is_json(content_type: str | None) -> bool:
    """What FastAPI reads as JSON: no Content-Type, application/json or application/*+json."""
    if not content_type:
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_json(request: Request, model: type[BaseModel]) -> BaseModel:
    """The request body as ``model``, parsed and validated in one pass (see the module doc)."""
    if not is_json(request.headers.get("content-type")):
        problem = {"loc": ("body",), "msg": "send the body as JSON", "type": "content_type"}
        raise RequestValidationError([problem])
    raw = await request.body()
    if not raw:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "Field required", "type": "missing"}]
        )
    if len(raw) >= THREAD_PARSE_MIN_BYTES:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(PARSER, parse_json, model, raw)
    return parse_json(model, raw)


def parse_json(model: type[BaseModel], raw: bytes) -> BaseModel:
    """``raw`` validated as ``model``; problems located as FastAPI locates them (``body``, ...)."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        raise RequestValidationError(
            [{**problem, "loc": ("body", *problem["loc"])} for problem in problems]
        ) from None


def json_body(model: type[BaseModel]) -> Callable[[Request], Coroutine[Any, Any, BaseModel]]:
    """A dependency that reads the body as ``model`` with ``read_json``.

    An ``async`` function, so that FastAPI calls it on the event loop (a plain ``def`` would be
    sent to its thread pool, a hand-off that costs more than the parse).
    """

    async def body(request: Request) -> BaseModel:
        return await read_json(request, model)

    body.__name__ = f"{model.__name__.lower()}_body"
    return body


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose body is ``model``, read by a ``json_body`` dependency.

    The schema is written out whole (the models it uses inlined), so that it needs no entry in
    the document's components, which FastAPI fills only from the models it reads itself.
    """
    schema = model.model_json_schema()  # validation mode: what a client may send
    definitions = schema.pop("$defs", {})
    content = {"application/json": {"schema": inline_refs(schema, definitions)}}
    return {"requestBody": {"required": True, "content": content}}


def inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    """``node`` with every ``{"$ref": "#/$defs/Name"}`` replaced by that definition."""
    if isinstance(node, list):
        return [inline_refs(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(DEFINITIONS):
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        target = inline_refs(definitions[ref.removeprefix(DEFINITIONS)], definitions)
        return {**target, **inline_refs(siblings, definitions)}
    return {key: inline_refs(value, definitions) for key, value in node.items()}
