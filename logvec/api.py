"""HTTP API and a small search page for SREs: `logvec serve --pipeline P --data-dir D`.

    GET /                  the search page
    GET /api/search        ?q=LINE&k=10&service=&level=&since=&until=&anomalies=false  → hits, best first
    GET /api/stats         records, templates, anomalies, sessions, model
    GET /api/sessions      ?anomalies=true&limit=20
    GET /api/events        ?kind=storm|drop&limit=20 → rate events, latest window first
    GET /healthz           the process is up
    GET /readyz            the model is loaded and the store answers (503 otherwise)
    GET /metrics           Prometheus

A model fitted after the server started (the worker's first warm-up), or refitted, is picked up by the next
request. The vectorizer is warmed when a model is loaded, so the first search does not pay for it.
"""

from __future__ import annotations

import threading
from importlib import resources
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from logvec.config import PipelineConfig
from logvec.model import ModelError
from logvec.pipeline import Runner
from logvec.store import Hit, SearchFilters
from logvec.store.base import StoreCorruptError, StoreUnavailableError
from logvec.timeparse import parse_time_arg


def create_app(config: PipelineConfig, data_dir: str | Path | None = None) -> FastAPI:
    runner = Runner(config, data_dir, load_model=False)
    loading = threading.Lock()  # requests run on a thread pool: one of them loads

    def model_problem() -> str | None:
        """Why there is no usable model (None: there is one, loaded and warm)."""
        try:
            with loading:
                if runner.refresh_model() and runner.model is not None:
                    runner.model.vectorizer.transform(runner.masker.mask(["warm up"]))  # sentence: load it now
        except ModelError as e:
            return str(e)
        if runner.model is None:
            return f"no model in {runner.model_dir} yet: run the pipeline on some logs first"
        return None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        model_problem()  # load and warm before the first request
        yield

    app = FastAPI(title="logvec", version="0.1.0", lifespan=lifespan,
                  description="Similar past log lines, and why lines were flagged.")

    @app.exception_handler(StoreCorruptError)
    @app.exception_handler(StoreUnavailableError)
    def store_problem(request: Request, e: Exception) -> JSONResponse:
        """A damaged or unreachable store is the server's state, said plainly: 503 with what is wrong, not a
        bare 500."""
        return JSONResponse({"detail": str(e)}, status_code=503)

    def when(text: str | None, name: str) -> float | None:
        if not text:
            return None
        try:
            return parse_time_arg(text)
        except ValueError as e:
            raise HTTPException(422, f"{name}: {e}") from None

    @app.get("/api/search", response_model=list[Hit])
    def search(q: str = Query(..., min_length=1, description="a log line or message"),
               k: int = Query(10, ge=1, le=1000), service: str | None = None, level: str | None = None,
               since: str | None = None, until: str | None = None, anomalies: bool = False) -> list[Hit]:
        problem = model_problem()
        if problem:
            raise HTTPException(503, problem)
        filters = SearchFilters(service=service, level=level, since=when(since, "since"), until=when(until, "until"),
                                anomalies_only=anomalies)
        return runner.search(q, k=k, filters=filters)

    @app.get("/api/stats")
    def stats() -> dict:
        model_problem()
        s = runner.store.stats()
        s["model"] = runner.model.meta if runner.model else None
        return s

    @app.get("/api/sessions")
    def sessions(anomalies: bool = True, limit: int = Query(20, ge=1, le=1000)) -> list[dict]:
        return runner.store.sessions(anomalies_only=anomalies, limit=limit)

    @app.get("/api/events")
    def rate_events(kind: Literal["storm", "drop"] | None = None,
                    limit: int = Query(20, ge=1, le=1000)) -> list[dict]:
        """Rate storms and drops, latest window first."""
        return runner.store.rate_events(kind=kind, limit=limit)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        try:
            count = runner.store.count()
        except Exception as e:  # noqa: BLE001 - any store failure means not ready
            return JSONResponse({"ready": False, "reason": f"store: {e}"}, status_code=503)
        problem = model_problem()
        if problem:
            return JSONResponse({"ready": False, "reason": problem}, status_code=503)
        return JSONResponse({"ready": True, "records": count})

    @app.get("/metrics")
    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    page_html = (resources.files("logvec") / "web" / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return page_html

    app.state.runner = runner
    return app
