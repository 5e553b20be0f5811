"""The web app: dashboard, searchable archive, sources, Atom feeds, JSON, metrics, health.

The service wires it with ``WebServer`` (a component) or ``build_web_app`` (the aiohttp
application, to serve elsewhere); ``shwatch web`` is ``cmd_web``; the Prometheus metrics
the service counts into are a ``Metrics`` object."""

from bot.web.app import WebServer, WebServerError, build_web_app, cmd_web
from bot.web.metrics import Metrics

__all__ = ["Metrics", "WebServer", "WebServerError", "build_web_app", "cmd_web"]
