"""The URL map. Each views module lists its own named routes (one module per audience);
this is the one place they are put together, in the order they are matched, and the one
place that says who may call them (festival.web.guards): organisers' routes answer only
a signed-in organiser, every route that takes cookies refuses an unsafe request that
does not come from our own pages, and the routes anyone can use to register, ask for
lost tickets or sign in are limited per client (festival.core.limits). Templates, mails
and feeds build links from the names (`url_path_for`), never by hand."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from festival.core.settings import Settings
from festival.web.guards import for_organisers, limited, retried, same_origin, seats_asked


def named(routes: Iterable[BaseRoute], *names: str) -> list[BaseRoute]:
    """The routes of `routes` with these names (each must be there)."""
    found = [r for r in routes if isinstance(r, Route) and r.name in names]
    assert sorted(r.name for r in found) == sorted(names), f"missing routes: {names}"
    return found


def fresh(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """Copies of `routes`: the guards wrap a route's app, and the views' route lists are
    shared by every app built in one process (tests build many), so each app wraps its own.
    Each copy first runs again when PostgreSQL rolled its transaction back (`retried`,
    innermost, so the other guards run once)."""
    return retried([copy.copy(r) for r in routes])


def build_routes(settings: Settings) -> list[BaseRoute]:
    from festival.web.views import (
        admin,
        api,
        catalogue_pages,
        door,
        feeds,
        management,
        overview,
        privacy,
        public,
        security,
        tickets,
    )

    public_routes = fresh([*public.routes, *tickets.routes, *feeds.routes, *admin.routes,
                           *privacy.routes, *security.routes, *catalogue_pages.routes])
    api_routes = fresh(api.routes)
    # Per-client limits, declared before same_origin so that the CSRF check runs first.
    # A registration also counts per screening, weighing the seats it asks for.
    limited(named([*public_routes, *api_routes], "register", "api_registrations"),
            bucket="register", target="id", weight=seats_asked)
    limited(named(public_routes, "lost_ticket"), bucket="lost_ticket")
    limited(named(public_routes, "admin_login", "admin_login_code", "admin_invite"),
            bucket="sign_in")
    return [
        *same_origin(public_routes),
        *api_routes,  # reads no cookie: its key is the token in the URL (see guards)
        *same_origin(for_organisers(fresh([*admin.organiser_routes, *door.routes,
                                           *management.routes, *overview.routes,
                                           *security.organiser_routes,
                                           *catalogue_pages.organiser_routes]))),
        *same_origin(for_organisers(fresh([*overview.admin_routes, *admin.admin_routes,
                                           *security.admin_routes]),
                                    role="admin")),
        Mount("/static", app=StaticFiles(directory=settings.static_dir), name="static"),
    ]
