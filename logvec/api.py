"""HTTP API and a small search page for SREs: `logvec serve --pipeline P --data-dir D`.

    GET  /                 the search page (its script and style under /assets/)
    GET  /api/search       ?q=LINE&k=10&service=&level=&since=&until=&anomalies=false  → hits, best first
    POST /api/search       the same as JSON {"q": ..., "k": ...}: for lines longer than a URL should be
    GET  /api/stats        records, templates, anomalies, sessions, model
    GET  /api/sessions     ?anomalies=true&limit=20
    GET  /api/sessions/lines  ?key=KEY&limit=500 → a session and its lines
    GET  /api/events       ?kind=storm|drop&limit=20 → rate events, latest window first
    GET  /api/incidents    ?since=&until=&limit=50 → incidents, latest first
    GET  /api/incidents/{id}          one incident, with its timeline
    GET  /api/incidents/{id}/similar  ?k=5 → past incidents like it, best first, with what they share
    POST /api/incidents/similar       {"lines": "..."} → past incidents like these lines
    POST /api/incidents/{id}/resolve  {"note": ...} → resolved, by the caller's identity
    GET  /api/feedback, POST /api/feedback/normal, DELETE /api/feedback/{key}   templates marked normal
    GET  /api/records/context  ?id=HIT_ID&before=5&after=5 → the lines around a hit
    GET  /api/histogram   ?since=&until=&buckets=60 → lines and anomalies by service over time
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
import time
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, model_validator

from logvec.access import AccessMiddleware, AccessPolicy, require_identity
from logvec.config import PipelineConfig, parse_duration
from logvec.incidents.signature import why
from logvec.model import ModelError
from logvec.registry import RegistryError
from logvec.searcher import Searcher
from logvec.store import Hit, SearchFilters
from logvec.store.base import StoreCorruptError, StoreUnavailableError
from logvec.timeparse import parse_time_arg

MAX_GET_QUERY = 4096  # characters of `q` in a URL; longer lines are POSTed
MAX_QUERY = 65536  # characters of a POSTed `q` (the default parse.max_line_size)
MAX_BODY = 1 << 20  # bytes of any request body
MAX_SERVED_IDS = 100_000  # record ids shown lately whose files the answers named by their last parts
_ASSETS = {"page.js": "text/javascript", "page.css": "text/css",  # uPlot (MIT, vendor/uPlot.LICENSE): the charts
           "uPlot.iife.min.js": "text/javascript", "uPlot.min.css": "text/css"}
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
    kind: str | None = Field(None, description="only anomalies of this kind (new_template, rare, rate, session)")


class LinesRequest(BaseModel):
    lines: str = Field(min_length=1, max_length=MAX_BODY, description="an incident's log lines, one per line")
    k: int = Field(5, ge=1, le=100)


class ResolveRequest(BaseModel):
    note: str = Field("", max_length=10_000, description="what it was, what fixed it")


class NormalRequest(BaseModel):
    incident: str | None = Field(None, description="mark each of this incident's top templates")
    template: str | None = Field(None, description="a template's text, as incidents show it")
    service: str | None = Field(None, description="only in this service (default: every one)")
    expires: str | None = Field(None, description="for this long from now (7d, 12h); default: for good")
    note: str = Field("", max_length=10_000)

    @model_validator(mode="after")
    def _one_target(self) -> "NormalRequest":
        if bool(self.incident) == bool(self.template):
            raise ValueError("give one of incident or template")
        if self.expires:
            self.expires_seconds()
        return self

    def expires_seconds(self) -> float:
        return parse_duration(self.expires or "")


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
                    if config.search.meaning:  # the meaning model and the templates' readings, too
                        searcher.meanings.refresh()
                        searcher.meanings.query("warm up")
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

    served: OrderedDict[str, str] = OrderedDict()  # public record id -> the stored one, for ids the page shows

    def expose(record_id: str) -> str:
        """A record id as answers give it (a file named by its last two parts), remembered so that a later
        request naming it (a hit's context) finds the record."""
        shown = public_text(record_id)
        if shown != record_id:
            served[shown] = record_id
            served.move_to_end(shown)
            while len(served) > MAX_SERVED_IDS:
                served.popitem(last=False)
        return shown

    def hit_dict(h: Hit) -> dict:
        # a hit's id names the file it came from; its message and template are log lines, shown as logged
        return {**asdict(h), "id": expose(h.id)}

    def incident_dict(inc, score: float | None = None, why_: dict | None = None) -> dict:
        d = inc.to_dict(score, why_)
        for t in d["top_templates"]:
            t["example_id"] = expose(t.get("example_id") or "")
        return public(d)

    def do_search(r: SearchRequest) -> list[dict]:
        problem = model_problem()
        if problem:
            raise HTTPException(503, problem)
        filters = SearchFilters(service=r.service, level=r.level, since=when(r.since, "since"),
                                until=when(r.until, "until"), anomalies_only=r.anomalies, kind=r.kind or None)
        return [hit_dict(h) for h in searcher.search(r.q, k=r.k, filters=filters)]

    api = APIRouter(prefix="/api", dependencies=[Depends(require_identity(access))])

    @api.get("/search", response_model=list[Hit])
    def search(q: str = Query(..., min_length=1, description=f"a log line or message (at most {MAX_GET_QUERY} "
                                                               "characters: POST longer ones)"),
               k: int = Query(10, ge=1, le=1000), service: str | None = None, level: str | None = None,
               since: str | None = None, until: str | None = None, anomalies: bool = False,
               kind: str | None = None) -> list[dict]:
        if len(q) > MAX_GET_QUERY:
            raise HTTPException(414, f"q is {len(q):,} characters; a URL takes at most {MAX_GET_QUERY:,}: POST it "
                                     "to /api/search as JSON {\"q\": ...}")
        return do_search(SearchRequest(q=q, k=k, service=service, level=level, since=since, until=until,
                                       anomalies=anomalies, kind=kind))

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

    @api.get("/sessions/lines")
    def session_lines(key: str = Query(..., min_length=1), limit: int = Query(500, ge=1, le=10_000)) -> dict:
        """A scored session and its lines, in time order."""
        try:
            found = searcher.session_lines(key, limit)
        except KeyError:
            raise HTTPException(404, f"no session {key!r}") from None
        for line in found["lines"]:
            line["id"] = expose(line["id"])
        return found

    @api.get("/events")
    def rate_events(kind: Literal["storm", "drop"] | None = None,
                    limit: int = Query(20, ge=1, le=1000)) -> list[dict]:
        """Rate storms and drops, latest window first."""
        return searcher.store.rate_events(kind=kind, limit=limit)

    @api.get("/incidents")
    def incidents(since: str | None = None, until: str | None = None, limit: int = Query(50, ge=1, le=1000),
                  min_anomalies: int | None = Query(None, ge=1)) -> list[dict]:
        """Incidents overlapping [since, until], the latest first."""
        found = searcher.incidents(when(since, "since"), when(until, "until"), limit, min_anomalies)
        return [incident_dict(i) for i in found]

    def incident_or_404(incident_id: str):
        inc = searcher.incident(incident_id)
        if inc is None:
            raise HTTPException(404, f"no incident {incident_id!r}")
        return inc

    @api.get("/incidents/{incident_id}")
    def incident(incident_id: str) -> dict:
        """One incident, with its anomalies over time by service (`timeline`: minute buckets)."""
        inc = incident_or_404(incident_id)
        return incident_dict(inc) | {"timeline": searcher.incident_timeline(inc)}

    @api.get("/incidents/{incident_id}/similar")
    def similar_incidents(incident_id: str, k: int = Query(5, ge=1, le=100)) -> list[dict]:
        """Past incidents most like this one, best first, each with a score and what they share."""
        inc = incident_or_404(incident_id)
        return [incident_dict(other, score, why(inc, other)) for other, score in searcher.similar_incidents(inc, k)]

    @api.post("/incidents/similar")
    def similar_to_lines(body: LinesRequest) -> list[dict]:
        """Past incidents most like the pasted lines (read as one incident)."""
        problem = model_problem()
        if problem:
            raise HTTPException(503, problem)
        try:
            inc = searcher.incident_of_lines(body.lines.splitlines())
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return [incident_dict(other, score, why(inc, other))
                for other, score in searcher.similar_incidents(inc, body.k, past_only=False)]

    @api.post("/incidents/{incident_id}/resolve")
    def resolve(incident_id: str, body: ResolveRequest, request: Request) -> dict:
        """Mark the incident resolved, with a note; recorded with the caller's identity."""
        try:
            inc = searcher.resolve(incident_id, body.note, by=request.state.identity)
        except KeyError:
            raise HTTPException(404, f"no incident {incident_id!r}") from None
        return incident_dict(inc)

    @api.get("/records/context")
    def record_context(id: str = Query(..., min_length=1, description="a hit's id, as answers give it"),
                       before: int = Query(5, ge=0, le=100), after: int = Query(5, ge=0, le=100)) -> dict:
        """The lines around a record: from its own source (a file's lines, a partition's offsets), else from its
        service just before and after it in time."""
        try:
            found = searcher.context(served.get(id, id), before, after)
        except KeyError:
            raise HTTPException(404, f"no record {id!r}") from None
        found["record"]["id"] = expose(found["record"]["id"])
        for line in found["lines"]:
            line["id"] = expose(line["id"])
        return found

    @api.get("/histogram")
    def histogram(since: str | None = None, until: str | None = None,
                  buckets: int = Query(60, ge=1, le=1000)) -> dict:
        """Lines and anomalies by service over time (default: the last day the store holds)."""
        try:
            return searcher.histogram(when(since, "since"), when(until, "until"), buckets)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None

    @api.get("/feedback")
    def feedback() -> list[dict]:
        """Templates marked normal: by whom, when, until when."""
        return [m.to_dict() for m in searcher.store.feedback()]

    @api.post("/feedback/normal")
    def mark_normal(body: NormalRequest, request: Request) -> list[dict]:
        """Mark a template, or an incident's top templates, normal: not flagged from now on (until `expires`
        from now), learned as normal at the next fit."""
        until = time.time() + body.expires_seconds() if body.expires else None
        try:
            marks = searcher.mark_normal(request.state.identity, template=body.template, incident_id=body.incident,
                                         service=body.service, until=until, note=body.note)
        except KeyError:
            raise HTTPException(404, f"no incident {body.incident!r}") from None
        return [m.to_dict() for m in marks]

    @api.delete("/feedback/{key}")
    def unmark(key: str) -> dict:
        """Take a normal mark back."""
        if not searcher.unmark(key):
            raise HTTPException(404, f"no mark {key!r}")
        return {"unmarked": key}

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
    assets = {name: ((web / name) if (web / name).is_file() else (web / "vendor" / name)).read_bytes()
              for name in _ASSETS}

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
