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
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from logvec.config import PipelineConfig
from logvec.model import ModelError
from logvec.pipeline import Runner
from logvec.store import Hit, SearchFilters
from logvec.timeparse import parse_time_arg


def create_app(config: PipelineConfig, data_dir: str | Path | None = None) -> FastAPI:
    runner = Runner(config, data_dir, load_model=False)
    loading = threading.Lock()  # requests run on a thread pool: one of them loads

    def model_problem() -> str | None:
        """Why there is no usable model (None: there is one, loaded and warm)."""
        try:
            with loading:
                if runner.refresh_model():
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

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    app.state.runner = runner
    return app


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>logvec — similar incidents</title>
<style>
 body{font:14px system-ui,sans-serif;margin:2em;color:#222} h1{font-size:1.3em}
 form{display:flex;gap:.5em;flex-wrap:wrap;margin-bottom:1em} input[name=q]{flex:1;min-width:30em;padding:.4em}
 input,button{padding:.4em} table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #ddd;
 padding:.35em;text-align:left;vertical-align:top} td.msg{font-family:ui-monospace,monospace}
 tr.anomaly{background:#fff3f0}
 .why{color:#a33;font-size:.9em} #status{color:#666}
</style></head><body>
<h1>logvec — when did we see something like this before?</h1>
<form id="f"><input name="q" placeholder="paste a log line or describe it" required>
 <input name="service" placeholder="service"><input name="since" placeholder="since (2h, ISO)">
 <label><input type="checkbox" name="anomalies"> anomalies only</label>
 <input name="k" type="number" value="20" min="1" max="1000" style="width:5em"><button>Search</button></form>
<div id="status"></div>
<table><thead><tr><th>score</th><th>time</th><th>service</th><th>message</th><th>why flagged</th></tr></thead>
<tbody id="hits"></tbody></table>
<script>
const f = document.getElementById('f'), tbody = document.getElementById('hits');
const status = document.getElementById('status');
const esc = s => (s ?? '').toString().replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
f.onsubmit = async (e) => {
  e.preventDefault();
  const p = new URLSearchParams();
  for (const [key, v] of new FormData(f)) if (v) p.set(key, key === 'anomalies' ? 'true' : v);
  status.textContent = 'searching…';
  const r = await fetch('/api/search?' + p);
  const body = await r.json();
  if (!r.ok) { status.textContent = body.detail ?? r.statusText; tbody.innerHTML = ''; return; }
  status.textContent = body.length + ' hits';
  tbody.innerHTML = body.map(h => `<tr class="${h.is_anomaly ? 'anomaly' : ''}"><td>${h.score.toFixed(3)}</td>
    <td>${esc(h.timestamp)}</td><td>${esc(h.service)}</td><td class="msg">${esc(h.message)}</td>
    <td class="why">${esc(h.reason)}</td></tr>`).join('');
  history.replaceState(null, '', '/?' + p);  // the address bar is a link to this search
};
const given = new URLSearchParams(location.search);  // a shared link: fill the form and search
if (given.get('q')) {
  for (const [key, v] of given) {
    const el = f.elements[key];
    if (el) el.type === 'checkbox' ? el.checked = v === 'true' : el.value = v;
  }
  f.requestSubmit();
}
</script></body></html>
"""
