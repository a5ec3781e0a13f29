"""`linkage screen serve`: the HTTP JSON API over a Screening.

POST /screen   one record (a JSON object) or a list of up to `max_records`; answers
               {"results": [...], "night": ..., "threshold": ...}, one result per record.
GET  /healthz  the loaded workspace generation (no key needed, no personal data).

Every /screen call needs a client's API key (`Authorization: Bearer KEY` or `X-API-Key: KEY`);
bodies over `max_body_bytes` are refused (413) before they are read whole; a bad record is a 422
naming the record and the field. Each answered call is one line of the audit log (time, client,
night, each record's person_id and the wanted ids and scores returned, alerts). The server's own
log says how many records and hits a call had, never who."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from linkage.screen.batcher import Batcher
from linkage.screen.keys import KeyRing
from linkage.screen.records import RecordError, check_record
from linkage.screen.service import Screening, open_screening

AUDIT = "screen/audit.jsonl"
log = logging.getLogger("linkage.screen")


class AuditLog:
    """Append-only JSON Lines, one line per answered call, written under a lock and flushed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


async def _body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _audit_entry(client: str, request_id: str, screening: Screening, night: str, results: list[dict]) -> dict:
    return {
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "client": client,
        "request_id": request_id,
        "night": night,
        "records": [{"person_id": r["person_id"], "source": r["source"], "alert": r["alert"],
                     "hits": [{"wanted_id": c["wanted_id"], "match_probability": c["match_probability"],
                               "match_weight": c["match_weight"], "alert": c["alert"]} for c in r["candidates"]]}
                    for r in results],
    }


def create_app(workspace: Path, rules: Path | None = None, screening: Screening | None = None) -> Starlette:
    """The app over `workspace` (its index loaded now; reloaded aside after each finished night)."""
    screening = screening or open_screening(Path(workspace), rules)
    config = screening.screener.config
    keys = KeyRing(Path(workspace))
    audit = AuditLog(Path(workspace) / AUDIT)

    def screen_now(records: list) -> tuple[list[dict], Any]:
        index = screening.index  # one index for the whole call, whatever a reload does meanwhile
        return screening.screener.screen(index, records), index

    batcher = Batcher(screen_now, max(config.max_records, config.batch_records))

    async def healthz(request: Request) -> JSONResponse:
        screening.check()
        idx = screening.index
        return JSONResponse({"status": "ok", "night": idx.last_night, "wanted": int(idx.w.num_rows),
                             "persons": idx.n_persons, "model": Path(idx.model_path).name,
                             "loaded_at": datetime.fromtimestamp(idx.loaded_at, timezone.utc).isoformat(timespec="seconds"),
                             "reloads": screening.reloads, "reload_error": screening.last_error or None})

    async def screen(request: Request) -> JSONResponse:
        t0 = time.perf_counter()
        client = keys.client(_key(request))
        if client is None:
            return _error(401, "an API key is needed: header 'Authorization: Bearer KEY' or 'X-API-Key: KEY' "
                               "(`linkage screen keys add NAME` creates one)")
        body = await _body(request, config.max_body_bytes)
        if body is None:
            return _error(413, f"request body over {config.max_body_bytes:,} bytes (rules/screen.yaml max_body_bytes)")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _error(400, f"the body is not JSON: {exc}")
        items = data if isinstance(data, list) else [data]
        if len(items) > config.max_records:
            return _error(413, f"{len(items)} records in one request; at most {config.max_records} "
                               "(rules/screen.yaml max_records)")
        if not items:
            return _error(422, "no record to screen: send a person record (JSON object) or a list of them")
        try:
            records = [check_record(obj, f"record {i}") for i, obj in enumerate(items)]
        except RecordError as exc:
            return _error(422, str(exc), record=int(exc.where.split()[-1]), field=exc.field)
        screening.check()
        if config.batch_records > 1:
            results, index = await batcher.submit(records)
        else:
            results, index = await run_in_threadpool(screen_now, records)
        request_id = uuid.uuid4().hex[:16]
        audit.write(_audit_entry(client, request_id, screening, index.last_night, results))
        hits = sum(len(r["candidates"]) for r in results)
        alerts = sum(c["alert"] for r in results for c in r["candidates"])
        log.info("screen client=%s request=%s records=%d hits=%d alerts=%d ms=%.1f", client, request_id,
                 len(records), hits, alerts, (time.perf_counter() - t0) * 1000)
        return JSONResponse({"request_id": request_id, "night": index.last_night, "threshold": config.threshold,
                             "results": results})

    app = Starlette(routes=[Route("/healthz", healthz, methods=["GET"]), Route("/screen", screen, methods=["POST"])])
    app.state.screening = screening
    app.state.audit = audit
    app.state.batcher = batcher
    return app
