"""Attachments: photos (JPEG, PNG, WebP) and PDF documents, their type decided by content,
their size capped, their SHA-256 kept, stored under a path the uploaded name never reaches,
and who may attach them."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from incidents.choices import ReportStatus
from incidents.models import Attachment
from incidents.services import attachment_add, attachment_name_clean
from monitoring.choices import AuditEntryAction, ObserverRole
from monitoring.models import AuditEntry
from monitoring.selectors import audit_entries_for
from tests.factories import CenterFactory, PartyFactory, UserFactory, ZoneTermFactory, report_file

pytestmark = pytest.mark.django_db
S = ReportStatus
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def people(zone, delegation, make_member):
    ZoneTermFactory(zone=zone)
    return {
        "author": make_member(ObserverRole.OBSERVER),
        "colleague": make_member(ObserverRole.OBSERVER),
        "turkish": make_member(ObserverRole.OBSERVER, delegation=PartyFactory(code="turkey")),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "partner": make_member(ObserverRole.PARTNER),
        "administrator": make_member(ObserverRole.ADMINISTRATOR),
        "elsewhere": make_member(
            ObserverRole.COORDINATOR, center=CenterFactory(), delegation=delegation
        ),
        "nobody": UserFactory(),
    }


def image_bytes(fmt: str, color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buffer, format=fmt)
    return buffer.getvalue()


def upload(content: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def stored_files(media) -> list:
    return [path for path in media.rglob("*") if path.is_file()] if media.exists() else []


@pytest.mark.parametrize(
    ("content", "name", "content_type", "extension"),
    [
        (image_bytes("JPEG"), "IMG_0042.JPG", "image/jpeg", "jpg"),
        (image_bytes("PNG"), "crater.png", "image/png", "png"),
        (image_bytes("WEBP"), "street.webp", "image/webp", "webp"),
        (PDF, "hotline-log.pdf", "application/pdf", "pdf"),
    ],
    ids=["jpeg", "png", "webp", "pdf"],
)
def test_the_author_attaches_a_photo_or_a_document(
    people, media, content, name, content_type, extension
):
    report = report_file(people["author"])
    at = datetime(2017, 6, 3, 12, 0, tzinfo=UTC)
    sent = upload(content, name=name, content_type="application/octet-stream")
    attachment = attachment_add(report=report, actor=people["author"], upload=sent, at=at)
    sha256 = hashlib.sha256(content).hexdigest()
    assert (attachment.content_type, attachment.size, attachment.sha256) == (
        content_type,
        len(content),
        sha256,
    )
    assert attachment.original_name == name and attachment.uploaded_at == at
    assert attachment.file.name == f"attachments/{report.uuid}/{sha256}.{extension}"
    assert (media / attachment.file.name).read_bytes() == content
    entry = audit_entries_for(report).get(action=AuditEntryAction.ATTACH)
    assert entry.actor == people["author"]
    assert entry.changes == {
        "attachment.name": [None, name],
        "attachment.size": [None, len(content)],
        "attachment.sha256": [None, sha256],
        "attachment.content_type": [None, content_type],
    }


@pytest.mark.parametrize(
    ("content", "name", "content_type"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 200, "photo.jpg", "image/jpeg"),
        (b"<!doctype html><script>alert(1)</script>", "photo.png", "image/png"),
        (image_bytes("JPEG")[:-200], "cut.jpg", "image/jpeg"),
        (image_bytes("GIF"), "anim.gif", "image/gif"),
        (b"PK\x03\x04" + b"\x00" * 100, "report.pdf", "application/pdf"),
    ],
    ids=["exe-named-jpg", "html-named-png", "truncated-jpeg", "gif", "zip-named-pdf"],
)
def test_the_type_is_decided_by_content_not_by_name(people, media, content, name, content_type):
    report = report_file(people["author"])
    entries = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as caught:
        attachment_add(
            report=report,
            actor=people["author"],
            upload=upload(content, name=name, content_type=content_type),
        )
    assert "its content was checked" in caught.value.message_dict["file"][0]
    assert not Attachment.objects.exists() and stored_files(media) == []
    assert AuditEntry.objects.count() == entries


def test_the_allowed_types_follow_the_settings(people, settings):
    settings.ATTACHMENT_CONTENT_TYPES = ["image/jpeg", "image/png"]
    report = report_file(people["author"])
    with pytest.raises(ValidationError) as caught:
        attachment_add(report=report, actor=people["author"], upload=upload(PDF, "log.pdf"))
    assert "file" in caught.value.message_dict
    attachment_add(report=report, actor=people["author"], upload=upload(image_bytes("PNG")))


def test_an_oversized_or_empty_file_is_refused(people, media, settings):
    settings.ATTACHMENT_MAX_BYTES = 1024
    report = report_file(people["author"])
    big = image_bytes("PNG") + b"\x00" * 2048
    with pytest.raises(ValidationError) as caught:
        attachment_add(report=report, actor=people["author"], upload=upload(big, "big.png"))
    assert "limit" in caught.value.message_dict["file"][0]
    with pytest.raises(ValidationError) as caught:
        attachment_add(report=report, actor=people["author"], upload=upload(b"", "empty.jpg"))
    assert "empty" in caught.value.message_dict["file"][0]
    assert not Attachment.objects.exists() and stored_files(media) == []
    small = image_bytes("JPEG")
    assert len(small) <= 1024
    attachment_add(report=report, actor=people["author"], upload=upload(small))


def test_the_same_file_twice_on_one_report_is_refused(people, coordinator_user):
    report = report_file(people["author"], status=S.SUBMITTED)
    photo = image_bytes("JPEG")
    attachment_add(report=report, actor=people["author"], upload=upload(photo, "a.jpg"))
    with pytest.raises(ValidationError) as caught:
        attachment_add(report=report, actor=people["coordinator"], upload=upload(photo, "b.jpg"))
    assert "already attached" in caught.value.message_dict["file"][0]
    assert "a.jpg" in caught.value.message_dict["file"][0]
    # Another report may carry the same photo.
    other = report_file(people["author"])
    attachment_add(report=other, actor=people["author"], upload=upload(photo, "a.jpg"))
    assert Attachment.objects.count() == 2


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("../../etc/cron.d/evil.jpg", "evil.jpg"),
        ("C:\\Users\\obs\\Desktop\\shelling 3.jpg", "shelling 3.jpg"),
        ("photo\u202egpj.exe", "photogpj.exe"),
        ("line\nbreak\x00.jpg", "linebreak.jpg"),
        ("\u202e\u200b", "attachment"),
        ("x" * 300 + ".jpeg", "x" * 250 + ".jpeg"),
    ],
    ids=["dot-dot", "windows-path", "rtl-override", "control-chars", "no-name", "too-long"],
)
def test_the_uploaded_name_is_metadata_only(people, media, name, kept):
    assert attachment_name_clean(name) == kept
    report = report_file(people["author"])
    attachment = attachment_add(
        report=report, actor=people["author"], upload=upload(image_bytes("JPEG"), name=name)
    )
    assert attachment.original_name == kept
    assert attachment.file.name == f"attachments/{report.uuid}/{attachment.sha256}.jpg"
    files = stored_files(media)
    assert [path.relative_to(media).as_posix() for path in files] == [attachment.file.name]


def test_the_author_and_the_centers_coordinators_attach(people):
    draft = report_file(people["author"])
    submitted = report_file(people["author"], status=S.SUBMITTED)
    verified = report_file(people["author"], status=S.VERIFIED, reviewer=people["coordinator"])
    attachment_add(report=draft, actor=people["author"], upload=upload(image_bytes("JPEG")))
    attachment_add(report=verified, actor=people["author"], upload=upload(image_bytes("PNG")))
    attachment_add(
        report=submitted, actor=people["coordinator"], upload=upload(image_bytes("JPEG"))
    )
    attachment_add(report=verified, actor=people["coordinator"], upload=upload(image_bytes("JPEG")))
    assert Attachment.objects.count() == 4


@pytest.mark.parametrize(
    "who", ["colleague", "turkish", "partner", "administrator", "elsewhere", "nobody"]
)
def test_nobody_else_attaches(people, who):
    report = report_file(people["author"], status=S.SUBMITTED)
    with pytest.raises(PermissionDenied):
        attachment_add(report=report, actor=people[who], upload=upload(image_bytes("JPEG")))
    assert not Attachment.objects.exists()


def test_a_coordinator_does_not_attach_to_someone_elses_draft(people):
    draft = report_file(people["author"])
    with pytest.raises(PermissionDenied):
        attachment_add(
            report=draft, actor=people["coordinator"], upload=upload(image_bytes("JPEG"))
        )
    assert not Attachment.objects.exists()


@pytest.mark.parametrize("status", [S.REJECTED, S.RETRACTED])
def test_closed_reports_take_no_attachments(people, status):
    report = report_file(people["author"], status=status, reviewer=people["coordinator"])
    for actor in (people["author"], people["coordinator"]):
        with pytest.raises(ValidationError) as caught:
            attachment_add(report=report, actor=actor, upload=upload(image_bytes("JPEG")))
        assert "closed" in caught.value.message_dict["file"][0]
    assert not Attachment.objects.exists()
