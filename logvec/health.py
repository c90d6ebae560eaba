"""Worker health for Kubernetes probes, served beside /metrics.

`/healthz` (liveness) answers 503 when the worker loop has not moved for `run.stall_timeout`: the metrics
thread keeps answering even when the loop hangs (a stuck store call, a deadlock), so probing /metrics would
never restart such a worker. An idle Kafka worker still moves: every poll, empty or not, is a beat.
`/readyz` answers 200 once the model is loaded or fitted and batches flow.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class Health:
    def __init__(self, stall_timeout_s: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_timeout_s = stall_timeout_s
        self._clock = clock
        self._last_beat = clock()
        self.ready = False

    def beat(self) -> None:
        """The loop moved (a batch or an empty poll came in, or a batch was stored)."""
        self._last_beat = self._clock()

    def set_ready(self) -> None:
        self.ready = True

    def since_beat(self) -> float:
        return self._clock() - self._last_beat

    @property
    def live(self) -> bool:
        return self.since_beat() <= self.stall_timeout_s


WORKER = Health()  # the process's worker; `logvec run` sets its timeout from the pipeline


def _json(start_response, ok: bool, body: dict) -> list[bytes]:
    start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def make_app(health: Health):
    """WSGI app: /healthz, /readyz, and prometheus-client's exposition for everything else (/metrics)."""
    from prometheus_client import make_wsgi_app

    metrics = make_wsgi_app()

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            since = round(health.since_beat(), 1)
            return _json(start_response, health.live, {"status": "ok" if health.live else "stalled",
                                                       "seconds_since_progress": since,
                                                       "stall_timeout_s": health.stall_timeout_s})
        if path == "/readyz":
            return _json(start_response, health.ready, {"status": "ready" if health.ready else "starting"})
        return metrics(environ, start_response)

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:  # probes every few seconds would flood stderr
        pass


def serve(port: int, health: Health = WORKER, addr: str = "0.0.0.0") -> WSGIServer:
    """Serve /metrics, /healthz and /readyz on `port` from a daemon thread; returns the server (port 0: any)."""
    server = make_server(addr, port, make_app(health), _ThreadingServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="logvec-metrics", daemon=True).start()
    return server
