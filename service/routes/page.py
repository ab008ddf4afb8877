"""The page at `/` for people: static HTML, JavaScript and CSS shipped in the package (service/static), no
front-end build and nothing fetched from elsewhere; it talks to the same JSON API as every other client."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["page"])


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    """The page: models, learning curves, classification with attribution, training jobs, the report."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


def mount_static(app: FastAPI) -> None:
    """The page's scripts and styles under /static."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
