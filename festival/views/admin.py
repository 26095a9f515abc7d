"""Placeholder until this audience's views land."""

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
