"""Placeholder until the registration views land."""

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
