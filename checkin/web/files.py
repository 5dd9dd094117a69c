"""File downloads: one Content-Disposition with an ASCII fallback name and the UTF-8 name."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import Response


def download(
    data: bytes, filename: str, media_type: str, *, fallback: str, inline: bool = False
) -> Response:
    """`data` as a file called `filename` (`fallback` + its suffix for old clients)."""
    suffix = filename[filename.rfind(".") :] if "." in filename else ""
    kind = "inline" if inline else "attachment"
    disposition = f"{kind}; filename=\"{fallback}{suffix}\"; filename*=UTF-8''{quote(filename)}"
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})
