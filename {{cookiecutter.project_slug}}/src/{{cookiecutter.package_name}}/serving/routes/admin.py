"""POST /admin/reload: load the models behind the aliases again, without a restart.

Off unless ``serving.reload_enabled``; then ``create_app`` includes this router, so the endpoint
exists (and is documented) and needs ``Authorization: Bearer <serving.reload_token>``. A restart
picks up promotions too, and is what several workers need: a reload reaches only the worker that
answers it.

The new models are loaded and warmed up on a thread while the old ones keep answering; then they
replace the old ones at once, and the old ones finish the calls they have.
"""

import asyncio
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException
from loguru import logger

from ...versions import NoModelError, RegistryError
from ..deps import AppSettings, State
from ..models import load_models
from ..schemas import ErrorMessage, ModelRef
from .model import model_ref

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


async def require_token(
    settings: AppSettings, authorization: Annotated[str | None, Header()] = None
) -> None:
    """401 unless the request carries the reload token (none configured: nobody has it)."""
    token = settings.serving.reload_token
    if token is None or not authorized(authorization, token.get_secret_value()):
        raise HTTPException(status_code=401, detail="a valid bearer token is required")


router = APIRouter(tags=["operations"], dependencies=[Depends(require_token)])


@router.post("/admin/reload", response_model=list[ModelRef], responses=REFUSED)
async def reload(state: State) -> list[ModelRef]:
    """Load the champion (and the challenger, in shadow and canary modes) by alias again;
    answers the models now served."""
    async with state.reload_lock:  # one reload at a time
        loop = asyncio.get_running_loop()
        sink = state.sink
        if sink is None:
            raise HTTPException(status_code=409, detail="the service is starting")
        try:
            models = await loop.run_in_executor(
                None, load_models, state.settings, state.model_metrics, sink
            )
        except (NoModelError, RegistryError) as error:
            raise HTTPException(status_code=409, detail=str(error)) from None
        old, state.models = state.models, models
        if old is not None:
            await loop.run_in_executor(None, old.close)
    served = [models.champion.loaded]
    if (challenger := models.challenger_model) is not None:
        served.append(challenger)
    logger.info("reloaded: {}", ", ".join(f"{m.role} v{m.version.version}" for m in served))
    return [model_ref(loaded) for loaded in served]
