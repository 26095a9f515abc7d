"""The URL map. Each views module lists its own named routes (one module per audience);
this is the one place they are put together, in the order they are matched, and the one
place that says who may call them (festival.web.guards): organisers' routes answer only
a signed-in organiser, and every route that takes cookies refuses an unsafe request that
does not come from our own pages. Templates, mails and feeds build links from the names
(`url_path_for`), never by hand."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from festival.core.settings import Settings
from festival.web.guards import for_organisers, same_origin


def build_routes(settings: Settings) -> list[BaseRoute]:
    from festival.web.views import admin, api, door, feeds, overview, public, tickets

    return [
        *same_origin([*public.routes, *tickets.routes, *feeds.routes, *admin.routes]),
        *api.routes,  # reads no cookie: its key is the token in the URL (see guards)
        *same_origin(for_organisers([*admin.organiser_routes, *door.routes,
                                     *overview.routes])),
        *same_origin(for_organisers(overview.admin_routes, role="admin")),
        Mount("/static", app=StaticFiles(directory=settings.static_dir), name="static"),
    ]
