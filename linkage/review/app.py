"""The reviewer web app (`linkage review serve`): routes only; what pages show is in pages.py,
who may ask in auth.py, the queue in candidates.py, the records in records.py.

Server-rendered (Starlette + Jinja2), working with no internet: the only script and style are
our own files under static/, allowed by a CSP without inline script or style. URLs carry ids
only, never a name or a birth date, and the logs write ids and actions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import ImmutableMultiDict
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from linkage.errors import InputError
from linkage.matches_io import is_matches, read_matches
from linkage.review import auth, pages, relatives_panel
from linkage.review.candidates import NONE, PENDING, Candidates, Filters, comparisons_of, load_matches
from linkage.review.records import Records, from_sources, from_workspace
from linkage.review.store import ReviewError, Session, Store

HERE = Path(__file__).resolve().parent
log = logging.getLogger("linkage.review")


@dataclass
class AppConfig:
    store: Store
    candidates: Candidates
    records: Records
    rules: Path | None = None


def load_config(store: Store, threshold: float, *, run: Path | None = None, matches: Path | None = None,
                wanted: Path | None = None, residents: Path | None = None, id_cards: Path | None = None,
                rules: Path | None = None) -> AppConfig:
    """Read a run folder (matches.parquet + workspace.duckdb) or the matches and the source files."""
    if run is not None:
        run = Path(run)
        if not is_matches(run / "matches.parquet"):
            raise InputError(f"{run}: not a run folder (no matches.parquet); give the --out of a `linkage run`")
        raw = read_matches(run / "matches.parquet")
        records = from_workspace(run / "workspace.duckdb", raw, rules)
        table = load_matches(run / "matches.parquet", records.wanted)
    else:
        if matches is None or wanted is None:
            raise InputError("give --run DIR, or --matches with --wanted (and --residents / --id-cards)")
        from linkage.ingest import read_source

        w = read_source(wanted, "wanted", rules)[0]
        r = read_source(residents, "residents", rules)[0] if residents else None
        c = read_source(id_cards, "id_cards", rules)[0] if id_cards else None
        raw = read_matches(matches) if is_matches(matches) else None
        if raw is None:
            raise InputError(f"{matches}: matches file not found")
        records = from_sources(w, r, c, raw, rules)
        table = load_matches(Path(matches), w)
    cands = Candidates(table, threshold, store, comparisons_of(table))
    relatives_panel.register(records, run if run is not None else Path(matches).parent)  # relatives.parquet
    return AppConfig(store, cands, records, rules)


def _templates() -> Environment:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters["q"] = lambda v: quote(str(v), safe="")
    return env


def _filters_from(raw: str, cands: Candidates) -> Filters:
    return Filters.parse(ImmutableMultiDict(parse_qsl(raw or "", keep_blank_values=False)), cands.units)


def _qs(f: Filters, **more: Any) -> str:
    items = f.query() + [(k, str(v)) for k, v in more.items() if v is not None]
    return ("?" + urlencode(items)) if items else ""


def create_app(config: AppConfig) -> Starlette:
    env = _templates()
    store, cands, records = config.store, config.candidates, config.records

    def ctx_for(sess: Session) -> pages.Ctx:
        s = store.settings(sess.user)
        return pages.Ctx(s["lang"], config.rules, sess.user, sess.role, bool(s["blind"]), sess.csrf)

    def render(name: str, ctx: pages.Ctx | None, status: int = 200, lang: str = "vi", **data: Any) -> HTMLResponse:
        tr = ctx.tr if ctx else (lambda key, **kw: pages.t("review." + key, lang, config.rules, **kw))
        html = env.get_template(name).render(ctx=ctx, tr=tr, lang=ctx.lang if ctx else lang, **data)
        return HTMLResponse(html, status_code=status)

    # -- login ---------------------------------------------------------------------------------
    async def login_form(request: Request) -> Response:
        token = auth.new_login_token()
        resp = render("login.html", None, token=token, error=None)
        resp.set_cookie(auth.LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=auth.secure(request),
                        path="/login", max_age=3600)
        return resp

    async def login_post(request: Request) -> Response:
        form = await request.form()
        if not auth.csrf_ok(request.cookies.get(auth.LOGIN_COOKIE), form.get("csrf")):
            return PlainTextResponse("403: invalid form token; reload the login page", status_code=403)
        name, password = str(form.get("username") or "")[:128], str(form.get("password") or "")
        remote = auth.remote_of(request)
        token = request.cookies.get(auth.LOGIN_COOKIE)

        def fail(key: str, status: int) -> Response:
            return render("login.html", None, status=status, token=token, error=key)

        if await auth.rate_limited(store, name, remote):
            log.info("login refused: too many failures remote=%s", remote)
            await run_in_threadpool(store.record_login, name, remote, False)
            return fail("login.too_many", 429)
        user = await run_in_threadpool(store.check_password, name, password)
        await run_in_threadpool(store.record_login, name, remote, user is not None)
        if user is None:
            log.info("login failed remote=%s", remote)
            return fail("login.wrong", 401)
        session_token, _ = await run_in_threadpool(store.new_session, user.name)
        log.info("login ok user=%s remote=%s", user.name, remote)
        resp = RedirectResponse("/queue", status_code=303)
        auth.set_session_cookie(resp, request, session_token, store.rules.session_hours)
        resp.delete_cookie(auth.LOGIN_COOKIE, path="/login")
        return resp

    @auth.action
    async def logout(request: Request, sess: Session, form: Any) -> Response:
        await run_in_threadpool(store.release_all, sess.user)
        await run_in_threadpool(store.end_session, request.cookies.get(auth.SESSION_COOKIE, ""))
        log.info("logout user=%s", sess.user)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(auth.SESSION_COOKIE, path="/")
        return resp

    # -- queue ---------------------------------------------------------------------------------
    def _queue(request: Request, sess: Session) -> Response:
        ctx = ctx_for(sess)
        cands.refresh()
        f = Filters.parse(request.query_params, cands.units)
        mask = cands.queue_mask(sess.user, f)
        first = cands.first(mask, 0, pages.QUEUE_ROWS)
        confirm = cands.confirm_mask(sess.user)
        return render("queue.html", ctx, items=pages.queue_items(ctx, cands, records, first),
                      counts=pages.counts(ctx, cands, mask), confirm_count=int(confirm.sum()),
                      options=pages.filter_options(ctx, cands), f=f, qs=_qs(f),
                      threshold=pages.fmt_pct(cands.threshold, ctx.lang, 0),
                      done=request.query_params.get("done") == "1")

    @auth.page
    async def queue(request: Request, sess: Session) -> Response:
        return await run_in_threadpool(_queue, request, sess)

    def _confirm_list(request: Request, sess: Session) -> Response:
        ctx = ctx_for(sess)
        cands.refresh()
        mask = cands.confirm_mask(sess.user)
        first = cands.first(mask, 0, pages.QUEUE_ROWS)
        return render("confirm.html", ctx, items=pages.queue_items(ctx, cands, records, first), count=int(mask.sum()))

    @auth.page
    async def confirm_list(request: Request, sess: Session) -> Response:
        return await run_in_threadpool(_confirm_list, request, sess)

    def _step(request: Request, sess: Session, forward: bool) -> Response:
        cands.refresh()
        params = request.query_params
        f = Filters.parse(params, cands.units)
        confirm = params.get("mode") == "confirm"
        mask = cands.confirm_mask(sess.user) if confirm else cands.queue_mask(sess.user, f)
        at = params.get("at", "0")
        at_pos = int(at) if at.isdigit() and int(at) <= cands.n else 0
        if forward:
            found = cands.first(mask, at_pos, 1)
            target = found[0] if found else None
        else:
            target = cands.previous(mask, at_pos)
            if target is None:
                found = cands.first(mask, at_pos, 1)
                target = found[0] if found else None
        if target is None:
            return RedirectResponse(("/confirm" if confirm else "/queue") + _qs(f, done=1), status_code=303)
        extra = {"mode": "confirm"} if confirm else {}
        return RedirectResponse(f"/pair/{quote(cands.wanted[target], safe='')}/{quote(cands.person[target], safe='')}"
                                + _qs(f, **extra), status_code=303)

    @auth.page
    async def next_item(request: Request, sess: Session) -> Response:
        return await run_in_threadpool(_step, request, sess, True)

    @auth.page
    async def prev_item(request: Request, sess: Session) -> Response:
        return await run_in_threadpool(_step, request, sess, False)

    # -- pair ----------------------------------------------------------------------------------
    def _workable(pos: int, user: str, confirm_mode: bool) -> tuple[bool, bool]:
        """(a match by someone else waits for confirmation, the pair may be decided by `user` now).
        A pending match is open to a second reviewer from the "to confirm" queue only: from the
        main queue (where it was still undecided when listed) it was decided meanwhile."""
        live = cands.live.get(pos)
        pending_other = cands.state[pos] == PENDING and live is not None and live["reviewer"] != user
        return pending_other, bool(cands.state[pos] == NONE or cands.requeued[pos] or (pending_other and confirm_mode))

    def _hold(w: str, p: str, pos: int, user: str, confirm_mode: bool) -> str | None:
        """Before a decision: the pair's lease must be ours (extended, or taken over when it
        expired) and the pair still open to this reviewer; else the reason it is refused."""
        if not store.claim(w, p, user):
            return "another reviewer holds this pair"
        cands.refresh()
        if not _workable(pos, user, confirm_mode)[1]:
            store.release(w, p, user)
            return "this pair was decided meanwhile"
        return None

    def _pair(request: Request, sess: Session) -> Response:
        ctx = ctx_for(sess)
        cands.refresh()
        w, p = request.path_params["wanted_id"], request.path_params["person_id"]
        pos = cands.position(w, p)
        if pos is None:
            return render("message.html", ctx, status=404, message=ctx.tr("pair.not_found"))
        params = request.query_params
        f = Filters.parse(params, cands.units)
        mode = "confirm" if params.get("mode") == "confirm" else None
        pending_other, workable = _workable(pos, sess.user, mode == "confirm")
        held = False
        if workable:
            store.release_all(sess.user)
            held = not store.claim(w, p, sess.user)
            if not held:
                # Decided by another reviewer between our read and our claim (they decide, then
                # release): read the change feed again now that the pair is ours.
                cands.refresh()
                pending_other, workable = _workable(pos, sess.user, mode == "confirm")
                if workable:
                    log.info("open wanted_id=%s person_id=%s reviewer=%s", w, p, sess.user)
                else:
                    store.release(w, p, sess.user)
        data = pages.pair_page(ctx, cands, records, pos, params.get("norm") == "1")
        return render("pair.html", ctx, **data, f=f, qs=_qs(f, **({"mode": mode} if mode else {})),
                      base_qs=_qs(f), mode=mode, held=held, workable=workable and not held,
                      pending_other=pending_other,
                      norm_qs=_qs(f, **({"mode": mode} if mode else {}), **({} if data["norm"] else {"norm": 1})),
                      filters_raw=urlencode(f.query()),
                      next_url="/next" + _qs(f, at=pos + 1, **({"mode": mode} if mode else {})),
                      prev_url="/prev" + _qs(f, at=pos, **({"mode": mode} if mode else {})))

    @auth.page
    async def pair(request: Request, sess: Session) -> Response:
        return await run_in_threadpool(_pair, request, sess)

    # -- decisions -----------------------------------------------------------------------------
    def _pair_from_form(form: Any) -> tuple[str, str, int] | None:
        w, p = str(form.get("wanted_id") or ""), str(form.get("person_id") or "")
        pos = cands.position(w, p)
        return (w, p, pos) if pos is not None else None

    def _decide(sess: Session, form: Any) -> Response:
        found = _pair_from_form(form)
        decision = str(form.get("decision") or "")
        if found is None or decision not in ("match", "not_match", "unsure"):
            return PlainTextResponse("400: unknown pair or decision", status_code=400)
        w, p, pos = found
        f = _filters_from(str(form.get("filters") or ""), cands)
        rec = records.wanted_record(w) or {}
        refused = _hold(w, p, pos, sess.user, form.get("mode") == "confirm")
        if refused is not None:
            log.info("decide refused wanted_id=%s person_id=%s reviewer=%s", w, p, sess.user)
            return PlainTextResponse(f"409: {refused}; open the next pair", status_code=409)
        row = cands.row(pos)
        try:
            store.decide(w, p, decision, sess.user, note=str(form.get("note") or "")[:2000],
                         match_weight=row.match_weight, evidence=row.evidence, danger_level=rec.get("danger_level"))
        except ReviewError as exc:
            return PlainTextResponse(f"409: {exc}", status_code=409)
        store.release(w, p, sess.user)
        log.info("decide wanted_id=%s person_id=%s decision=%s reviewer=%s", w, p, decision, sess.user)
        mode = {"mode": "confirm"} if form.get("mode") == "confirm" else {}
        return RedirectResponse("/next" + _qs(f, at=pos + 1, **mode), status_code=303)

    @auth.action
    async def decide(request: Request, sess: Session, form: Any) -> Response:
        return await run_in_threadpool(_decide, sess, form)

    def _confirm(sess: Session, form: Any) -> Response:
        found = _pair_from_form(form)
        if found is None:
            return PlainTextResponse("400: unknown pair", status_code=400)
        w, p, pos = found
        if not store.claim(w, p, sess.user):
            return PlainTextResponse("409: another reviewer holds this pair; open the next pair", status_code=409)
        try:
            store.confirm(w, p, sess.user, note=str(form.get("note") or "")[:2000])
        except ReviewError as exc:
            store.release(w, p, sess.user)
            return PlainTextResponse(f"409: {exc}", status_code=409)
        store.release(w, p, sess.user)
        log.info("confirm wanted_id=%s person_id=%s reviewer=%s", w, p, sess.user)
        return RedirectResponse("/next" + _qs(Filters(), at=pos + 1, mode="confirm"), status_code=303)

    @auth.action
    async def confirm(request: Request, sess: Session, form: Any) -> Response:
        return await run_in_threadpool(_confirm, sess, form)

    def _undo(sess: Session, form: Any) -> Response:
        undone = store.undo(sess.user)
        if undone is None:
            return RedirectResponse("/queue", status_code=303)
        log.info("undo wanted_id=%s person_id=%s reviewer=%s", undone.wanted_id, undone.person_id, sess.user)
        return RedirectResponse(f"/pair/{quote(undone.wanted_id, safe='')}/{quote(undone.person_id, safe='')}",
                                status_code=303)

    @auth.action
    async def undo(request: Request, sess: Session, form: Any) -> Response:
        return await run_in_threadpool(_undo, sess, form)

    def _reopen(sess: Session, form: Any) -> Response:
        w, p = str(form.get("wanted_id") or ""), str(form.get("person_id") or "")
        try:
            store.reopen(w, p, sess.user, str(form.get("note") or "")[:2000])
        except ReviewError as exc:
            return PlainTextResponse(f"409: {exc}", status_code=409)
        log.info("reopen wanted_id=%s person_id=%s supervisor=%s", w, p, sess.user)
        return RedirectResponse(f"/history/pair/{quote(w, safe='')}/{quote(p, safe='')}", status_code=303)

    @auth.action
    async def reopen(request: Request, sess: Session, form: Any) -> Response:
        if sess.role != "supervisor":
            return PlainTextResponse("403: only a supervisor can reopen a decision", status_code=403)
        return await run_in_threadpool(_reopen, sess, form)

    # -- history -------------------------------------------------------------------------------
    def _pair_history(request: Request, sess: Session) -> Response:
        ctx = ctx_for(sess)
        w, p = request.path_params["wanted_id"], request.path_params["person_id"]
        rows = store.history(wanted_id=w, person_id=p)
        live = next((j for j in rows if j.live), None)
        return render("history.html", ctx, rows=pages.history_rows(ctx, rows), pair=(w, p), who=None,
                      reviewers=[], can_reopen=sess.role == "supervisor" and live is not None)

    @auth.page
    async def pair_history(request: Request, sess: Session) -> Response:
        return await run_in_threadpool(_pair_history, request, sess)

    def _history(request: Request, sess: Session) -> Response:
        ctx = ctx_for(sess)
        who = request.query_params.get("reviewer") or None
        if sess.role != "supervisor":
            who = sess.user  # a reviewer sees their own decisions only
        rows = store.history(reviewer=who, limit=500)
        reviewers = [u.name for u in store.users()] if sess.role == "supervisor" else []
        return render("history.html", ctx, rows=pages.history_rows(ctx, rows), pair=None, who=who,
                      reviewers=reviewers, can_reopen=False)

    @auth.page
    async def history(request: Request, sess: Session) -> Response:
        return await run_in_threadpool(_history, request, sess)

    # -- settings ------------------------------------------------------------------------------
    @auth.page
    async def settings_page(request: Request, sess: Session) -> Response:
        ctx = await run_in_threadpool(ctx_for, sess)
        return render("settings.html", ctx, saved=request.query_params.get("saved") == "1")

    def _save_settings(sess: Session, form: Any) -> Response:
        lang = str(form.get("lang") or "vi")
        if lang not in ("vi", "en"):
            return PlainTextResponse("400: lang must be vi or en", status_code=400)
        store.set_setting(sess.user, "lang", lang)
        store.set_setting(sess.user, "blind", form.get("blind") == "1")
        log.info("settings user=%s lang=%s blind=%s", sess.user, lang, form.get("blind") == "1")
        return RedirectResponse("/settings?saved=1", status_code=303)

    @auth.action
    async def save_settings(request: Request, sess: Session, form: Any) -> Response:
        return await run_in_threadpool(_save_settings, sess, form)

    async def home(request: Request) -> Response:
        return RedirectResponse("/queue", status_code=303)

    routes = [
        Route("/", home),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/queue", queue),
        Route("/confirm", confirm_list, methods=["GET"]),
        Route("/confirm", confirm, methods=["POST"]),
        Route("/next", next_item),
        Route("/prev", prev_item),
        Route("/pair/{wanted_id}/{person_id}", pair),
        Route("/decide", decide, methods=["POST"]),
        Route("/undo", undo, methods=["POST"]),
        Route("/reopen", reopen, methods=["POST"]),
        Route("/history", history),
        Route("/history/pair/{wanted_id}/{person_id}", pair_history),
        Route("/settings", settings_page, methods=["GET"]),
        Route("/settings", save_settings, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(auth.SecurityHeaders)])
    app.state.store = store
    app.state.config = config
    return app
