"""The URL map. Each views module lists its own named routes (one module per audience);
this is the one place they are put together, in the order they are matched. Templates,
mails and feeds build links from the names (`url_path_for`), never by hand."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from festival.core.settings import Settings


def build_routes(settings: Settings) -> list[BaseRoute]:
    from festival.web.views import admin, api, door, feeds, public, tickets

    return [
        *public.routes,
        *tickets.routes,
        *feeds.routes,
        *api.routes,
        *admin.routes,
        *door.routes,
        Mount("/static", app=StaticFiles(directory=settings.static_dir), name="static"),
    ]
