"""Route dependencies (``Annotated`` aliases), all read from the app's running ``Services``.

They are ``async`` so FastAPI calls them inline instead of hopping to a worker thread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.services import Services


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
