"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from checkin.accounts.service import TokenSigner
from checkin.keys import template_cipher
from checkin.meetings.events import EventBus
from checkin.recognition.workers import MatchService
from checkin.settings import Settings, db_pool
from checkin.web import console, errors, imports, kiosk_socket, live, pages
from checkin.web.api import accounts, deputies, kiosk, meetings, terms
from checkin.web.errors import error_body
from checkin.web.gate import Gate
from models.db import (
    DatabaseError,
    current_revision,
    head_revision,
    make_engine,
    make_session_factory,
)

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, engine: Engine | None = None, warm_matcher: bool = False
) -> FastAPI:
    """Build the app from settings; collaborators live on app.state.

    `warm_matcher` starts the face worker processes at startup (`baodao serve`); otherwise
    they start with the first kiosk frame.
    """
    engine = engine or make_engine(settings.database_url, db_pool(settings))
    secret = settings.resolved_secret()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.live.start()
        if warm_matcher:
            await app.state.matcher.warm()
        try:
            yield
        finally:
            app.state.matcher.close()
            await app.state.live.stop()
            pool = getattr(app.state, "face_pool", None)  # started on first photo upload
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            engine.dispose()

    # The docs are served by checkin.web.pages: local assets, logged-in staff only.
    app = FastAPI(
        title="Baodao 报到",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_session_factory(engine)
    app.state.signer = TokenSigner(secret)
    app.state.cipher = template_cipher(settings)  # follows `baodao secret rotate`
    app.state.events = EventBus()  # publish only after the change is committed
    app.state.live = live.LiveHub(app.state.sessions, settings)
    app.state.events.subscribe(app.state.live.on_event)
    app.state.matcher = MatchService(settings, app.state.sessions, app.state.cipher)
    app.state.events.subscribe(app.state.matcher.invalidate)
    app.state.imports = imports.ImportJobs()  # bulk imports started from the browser

    errors.install(app)
    app.add_middleware(Gate)  # size limits, credentials and CSRF before any body is read

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> JSONResponse:
        try:
            current = current_revision(engine)
        except DatabaseError as exc:
            return JSONResponse(error_body("database_unreachable", str(exc)), status_code=503)
        head = head_revision()
        if current != head:
            msg = f"database at revision {current}, code expects {head}: run `baodao db upgrade`"
            return JSONResponse(error_body("migrations_pending", msg), status_code=503)
        return JSONResponse({"status": "ready", "revision": current})

    app.include_router(accounts.router)
    app.include_router(kiosk.router)
    app.include_router(deputies.router)
    app.include_router(meetings.router)
    app.include_router(terms.router)
    app.include_router(imports.router)
    app.include_router(live.router)
    app.include_router(kiosk_socket.router)
    app.include_router(console.router)  # the console pages (代表管理, 批量导入, …)
    pages.mount(app)
    return app
