"""Prototype: the ack front's HTTP served by waitress (a WSGI server) instead of http.server."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from bot import front as f
from bot.triggers import signatures as triggers

log = logging.getLogger(__name__)


def wsgi_app(front: f.Front) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        if method == "GET":
            if path == "/healthz":
                reply = f.Reply(200, b"ok")
            elif path in triggers.PATHS:
                reply = front.handle_trigger("GET", path, b"", headers)
            else:
                reply = f.Reply(404)
        else:
            raw = environ["wsgi.input"].read()
            if path in triggers.PATHS:
                reply = front.handle_trigger("POST", path, raw, headers)
            elif path != f.EVENTS_PATH:
                reply = f.Reply(404)
            else:
                try:
                    reply = front.handle(raw, headers)
                except Exception:
                    log.exception("answering a Slack request failed")
                    reply = f.Reply(500)
        start_response(f"{reply.status} {HTTPStatus(reply.status).phrase}",
                       [("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body)))])
        return [reply.body]

    return app


def serve(front: f.Front, config: f.FrontConfig, on_ready: Any) -> None:
    import waitress

    server = waitress.create_server(wsgi_app(front), host=config.host, port=config.port, threads=32,
                                    channel_timeout=config.read_timeout, cleanup_interval=1,
                                    connection_limit=config.max_connections, max_request_body_size=f.MAX_BODY,
                                    backlog=128, ident=None)
    on_ready(server.effective_host, server.effective_port)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
