"""POST /admin/reload: load the models behind the aliases again, without a restart.

Off unless ``serving.reload_enabled``; then it exists (and is documented) and needs
``Authorization: Bearer <serving.reload_token>``. A restart picks up promotions too, and is what
several workers need: a reload reaches only the worker that answers it.

The new models are loaded and warmed up on a thread while the old ones keep answering; then they
replace the old ones at once, and the old ones finish the calls they have.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Header, HTTPException
from loguru import logger

from ..config import Settings
from ..versions import NoModelError, RegistryError
from .metrics import ModelMetrics
from .models import load_models
from .schemas import ErrorMessage, ModelRef

if TYPE_CHECKING:
    from .app import ServiceState

BEARER = "Bearer "
REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorMessage, "description": "No valid `Authorization: Bearer` token."},
    409: {"model": ErrorMessage, "description": "The models could not be loaded; the old serve."},
}


def authorized(header: str | None, token: str) -> bool:
    """Constant-time comparison, so that the answer's timing does not reveal the token."""
    if header is None or not header.startswith(BEARER):
        return False
    return hmac.compare_digest(header.removeprefix(BEARER).encode(), token.encode())


def add_reload_endpoint(
    app: FastAPI, state: ServiceState, settings: Settings, metrics: ModelMetrics
) -> None:
    """Add the endpoint when the settings enable it (with its token); otherwise nothing."""
    serving = settings.serving
    if not serving.reload_enabled or serving.reload_token is None:
        return
    token = serving.reload_token.get_secret_value()
    lock = asyncio.Lock()

    @app.post(
        "/admin/reload", response_model=list[ModelRef], responses=REFUSED, tags=["operations"]
    )
    async def reload(
        authorization: Annotated[str | None, Header()] = None,
    ) -> list[ModelRef]:
        """Load the champion (and the challenger, in shadow and canary modes) by alias again;
        answers the models now served."""
        if not authorized(authorization, token):
            raise HTTPException(status_code=401, detail="a valid bearer token is required")
        async with lock:  # one reload at a time
            loop = asyncio.get_running_loop()
            sink = state.sink
            if sink is None:
                raise HTTPException(status_code=409, detail="the service is starting")
            try:
                models = await loop.run_in_executor(None, load_models, settings, metrics, sink)
            except (NoModelError, RegistryError) as error:
                raise HTTPException(status_code=409, detail=str(error)) from None
            old, state.models = state.models, models
            if old is not None:
                await loop.run_in_executor(None, old.close)
        served = [models.champion.loaded]
        if (challenger := models.challenger_model) is not None:
            served.append(challenger)
        logger.info("reloaded: {}", ", ".join(f"{m.role} v{m.version.version}" for m in served))
        return [
            ModelRef(name=m.version.name, version=m.version.version, role=m.role) for m in served
        ]
