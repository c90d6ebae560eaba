"""HTTP API and a small search page for SREs: `logvec serve --pipeline P --data-dir D`.

    GET  /                 the search page (its script and style under /assets/)
    GET  /api/search       ?q=LINE&k=10&service=&level=&since=&until=&anomalies=false  → hits, best first
    POST /api/search       the same as JSON {"q": ..., "k": ...}: for lines longer than a URL should be
    GET  /api/stats        records, templates, anomalies, sessions, model
    GET  /api/sessions     ?anomalies=true&limit=20
    GET  /api/events       ?kind=storm|drop&limit=20 → rate events, latest window first
    GET  /healthz          the process is up
    GET  /readyz           the model is loaded and the store answers (503 otherwise)
    GET  /metrics          Prometheus
    GET  /docs, /redoc     the OpenAPI docs, their assets served from the package (they work offline)

`/api/...` needs authentication (logvec.access). Answers name files by their last two path parts, never by the
server's absolute paths (hit ids, stats, errors); log lines themselves are shown as they were logged. The API
is the read side (`logvec.searcher.Searcher`): it needs the store and the model registry, never Kafka. A
version published after the server started (the fleet's first fit), or newly activated, is picked up by the
next request. The vectorizer is warmed when a model is loaded, so the first search does not pay for it.
"""

from __future__ import annotations

import re
import threading
from contextlib import asynccontextmanager
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

from logvec.access import AccessMiddleware, AccessPolicy, require_identity
from logvec.config import PipelineConfig
from logvec.model import ModelError
from logvec.registry import RegistryError
from logvec.searcher import Searcher
from logvec.store import Hit, SearchFilters
from logvec.store.base import StoreCorruptError, StoreUnavailableError
from logvec.timeparse import parse_time_arg

MAX_GET_QUERY = 4096  # characters of `q` in a URL; longer lines are POSTed
MAX_QUERY = 65536  # characters of a POSTed `q` (the default parse.max_line_size)
MAX_BODY = 1 << 20  # bytes of any request body
_ASSETS = {"page.js": "text/javascript", "page.css": "text/css"}
_ABSOLUTE = re.compile(r"(?:[A-Za-z]:)?[/\\](?:[^/\\\s:]+[/\\])*([^/\\\s:]+[/\\][^/\\\s:]+)(?=:\d+\b)"
                       r"|(?:[A-Za-z]:)?[/\\](?:[^/\\\s]+[/\\])+([^/\\\s]+)")


def public_text(text: str) -> str:
    """`text` with each absolute path cut to its last two parts (`/var/log/app/x.log:12` → `app/x.log:12`)."""
    return _ABSOLUTE.sub(lambda m: m.group(1) or m.group(2), text) if ("/" in text or "\\" in text) else text


def public(value: Any) -> Any:
    """A JSON-able answer with no absolute server path in any string."""
    if isinstance(value, str):
        return public_text(value)
    if isinstance(value, dict):
        return {k: public(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [public(v) for v in value]
    return value


class SearchRequest(BaseModel):
    q: str = Field(min_length=1, description="a log line or message")
    k: int = Field(10, ge=1, le=1000)
    service: str | None = None
    level: str | None = None
    since: str | None = None
    until: str | None = None
    anomalies: bool = False


def create_app(config: PipelineConfig, data_dir: str | Path | None = None,
               access: AccessPolicy | None = None) -> FastAPI:
    """The app. `access`: who may read `/api` and which Host names are served; the default lets nobody in
    (`logvec serve` builds the policy from its flags and environment)."""
    access = access or AccessPolicy()
    searcher = Searcher(config, data_dir)
    loading = threading.Lock()  # requests run on a thread pool: one of them loads

    def model_problem() -> str | None:
        """Why there is no usable model (None: there is one, loaded and warm)."""
        try:
            with loading:
                if searcher.refresh_model() and searcher.model is not None:
                    searcher.model.vectorizer.transform(searcher.masker.mask(["warm up"]))  # sentence: load it now
        except (ModelError, RegistryError, StoreUnavailableError) as e:
            return public_text(str(e))
        if searcher.model is None:
            return "no model published yet: run the pipeline on some logs first"
        return None

    @asynccontextmanager
    async def lifespan(app):
        model_problem()  # load and warm before the first request
        yield

    app = FastAPIOffline(title="logvec", version="0.1.0", lifespan=lifespan, static_url="/assets/docs",
                         description="Similar past log lines, and why lines were flagged.")
    app.add_middleware(AccessMiddleware, policy=access, max_body=MAX_BODY)

    @app.exception_handler(StoreCorruptError)
    @app.exception_handler(StoreUnavailableError)
    def store_problem(request: Request, e: Exception) -> JSONResponse:
        """A damaged or unreachable store is the server's state, said plainly: 503 with what is wrong, not a
        bare 500."""
        return JSONResponse({"detail": public_text(str(e))}, status_code=503)

    def when(text: str | None, name: str) -> float | None:
        if not text:
            return None
        try:
            return parse_time_arg(text)
        except ValueError as e:
            raise HTTPException(422, f"{name}: {e}") from None

    def do_search(r: SearchRequest) -> list[dict]:
        problem = model_problem()
        if problem:
            raise HTTPException(503, problem)
        filters = SearchFilters(service=r.service, level=r.level, since=when(r.since, "since"),
                                until=when(r.until, "until"), anomalies_only=r.anomalies)
        # a hit's id names the file it came from; its message and template are log lines, shown as logged
        return [{**asdict(h), "id": public_text(h.id)} for h in searcher.search(r.q, k=r.k, filters=filters)]

    api = APIRouter(prefix="/api", dependencies=[Depends(require_identity(access))])

    @api.get("/search", response_model=list[Hit])
    def search(q: str = Query(..., min_length=1, description=f"a log line or message (at most {MAX_GET_QUERY} "
                                                               "characters: POST longer ones)"),
               k: int = Query(10, ge=1, le=1000), service: str | None = None, level: str | None = None,
               since: str | None = None, until: str | None = None, anomalies: bool = False) -> list[dict]:
        if len(q) > MAX_GET_QUERY:
            raise HTTPException(414, f"q is {len(q):,} characters; a URL takes at most {MAX_GET_QUERY:,}: POST it "
                                     "to /api/search as JSON {\"q\": ...}")
        return do_search(SearchRequest(q=q, k=k, service=service, level=level, since=since, until=until,
                                       anomalies=anomalies))

    @api.post("/search", response_model=list[Hit])
    def search_post(body: SearchRequest) -> list[dict]:
        if len(body.q) > MAX_QUERY:
            raise HTTPException(413, f"q is {len(body.q):,} characters; a search line is at most {MAX_QUERY:,}")
        return do_search(body)

    @api.get("/stats")
    def stats() -> dict:
        model_problem()
        return public(searcher.stats())

    @api.get("/sessions")
    def sessions(anomalies: bool = True, limit: int = Query(20, ge=1, le=1000)) -> list[dict]:
        return searcher.store.sessions(anomalies_only=anomalies, limit=limit)

    @api.get("/events")
    def rate_events(kind: Literal["storm", "drop"] | None = None,
                    limit: int = Query(20, ge=1, le=1000)) -> list[dict]:
        """Rate storms and drops, latest window first."""
        return searcher.store.rate_events(kind=kind, limit=limit)

    app.include_router(api)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        try:
            count = searcher.store.count()
        except Exception as e:  # noqa: BLE001 - any store failure means not ready
            return JSONResponse({"ready": False, "reason": public_text(f"store: {e}")}, status_code=503)
        problem = model_problem()
        if problem:
            return JSONResponse({"ready": False, "reason": problem}, status_code=503)
        return JSONResponse({"ready": True, "records": count})

    @app.get("/metrics")
    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    web = resources.files("logvec") / "web"
    page_html = (web / "index.html").read_text(encoding="utf-8")
    assets = {name: (web / name).read_bytes() for name in _ASSETS}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return page_html

    @app.get("/assets/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name not in assets:
            raise HTTPException(404, "no such asset")
        return Response(assets[name], media_type=_ASSETS[name])

    app.state.searcher = searcher
    return app
