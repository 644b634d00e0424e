"""Serving a report's stored files, the same way for the web pages and the API."""

from __future__ import annotations

from django.http import FileResponse, Http404

from .models import Attachment


def attachment_response(attachment: Attachment) -> FileResponse:
    """The file as a download, never inline: its stored type, no sniffing, no scripts, no
    caching by shared caches. Http404 if the file is missing from storage."""
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise Http404("The file is missing from storage.") from exc
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
