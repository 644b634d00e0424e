"""A report's corroboration links and attachments through the API: read and add through the
same services as the web pages, each rule with its negative case, files as downloads."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from incidents.choices import ReportStatus
from incidents.models import Attachment, CorroborationLink
from incidents.services import attachment_add, corroboration_link
from monitoring.choices import ObserverRole
from tests.api_base import client_for
from tests.factories import CenterFactory, PartyFactory, ZoneTermFactory, report_file

pytestmark = pytest.mark.django_db
S = ReportStatus


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def people(zone, delegation, make_member):
    ZoneTermFactory(zone=zone)
    return {
        "author": make_member(ObserverRole.OBSERVER),
        "turkish": make_member(ObserverRole.OBSERVER, delegation=PartyFactory(code="turkey")),
        "coordinator": make_member(ObserverRole.COORDINATOR),
        "partner": make_member(ObserverRole.PARTNER),
        "elsewhere": make_member(
            ObserverRole.COORDINATOR, center=CenterFactory(code="OTH"), delegation=delegation
        ),
    }


def url(report, name: str, **kwargs) -> str:
    return reverse(f"incidents-api:report-{name}", kwargs={"uuid": report.uuid, **kwargs})


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (20, 120, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def pair(people):
    one = report_file(people["author"], status=S.SUBMITTED)
    two = report_file(people["turkish"], status=S.SUBMITTED)
    return one, two


def test_the_author_links_a_report_and_both_sides_list_it(people):
    one, two = pair(people)
    response = client_for(people["coordinator"]).post(
        url(one, "links"), {"other": str(two.uuid), "note": "same shelling"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert [link["uuid"] for link in response.json()] == [str(two.uuid)]
    back = client_for(people["coordinator"]).get(url(two, "links")).json()
    assert back[0]["uuid"] == str(one.uuid) and back[0]["note"] == "same shelling"
    assert back[0]["url"].endswith(f"/api/v1/reports/{one.uuid}/")
    assert CorroborationLink.objects.count() == 1


def test_a_link_to_a_report_the_caller_cannot_see_names_other(people):
    one = report_file(people["author"], status=S.SUBMITTED)
    hidden = report_file(people["turkish"], status=S.SUBMITTED)  # another delegation's
    response = client_for(people["author"]).post(
        url(one, "links"), {"other": str(hidden.uuid)}, format="json"
    )
    assert response.status_code == 400 and "other" in response.json()
    bad = client_for(people["author"]).post(url(one, "links"), {"other": "x"}, format="json")
    assert bad.status_code == 400 and "other" in bad.json()
    assert not CorroborationLink.objects.exists()


def test_the_rules_of_the_service_answer_with_the_field(people):
    one = report_file(people["author"], status=S.SUBMITTED)
    draft = report_file(people["author"])
    response = client_for(people["author"]).post(
        url(one, "links"), {"other": str(draft.uuid)}, format="json"
    )
    assert response.status_code == 400
    assert not CorroborationLink.objects.exists()


def test_links_hide_the_reports_the_caller_cannot_see(people):
    one, two = pair(people)
    corroboration_link(report=one, other=two, actor=people["coordinator"])
    # the author sees the link's other side only if they may see that report
    assert client_for(people["author"]).get(url(one, "links")).json() == []
    assert len(client_for(people["coordinator"]).get(url(one, "links")).json()) == 1


def test_another_center_neither_reads_nor_links(people):
    one, two = pair(people)
    other = client_for(people["elsewhere"])
    assert other.get(url(one, "links")).status_code == 404
    response = other.post(url(one, "links"), {"other": str(two.uuid)}, format="json")
    assert response.status_code == 404


def test_the_author_uploads_and_the_center_downloads_as_an_attachment(people):
    report = report_file(people["author"], status=S.SUBMITTED)
    content = png()
    client = client_for(people["author"])
    response = client.post(
        url(report, "attachments"),
        {"file": io.BytesIO(content)},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["content_type"] == "image/png" and body["size"] == len(content)
    download = client_for(people["coordinator"]).get(
        url(report, "attachment-download", attachment_id=body["id"])
    )
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content) == content


def test_a_file_that_is_not_a_photo_or_pdf_is_a_400_naming_file(people):
    report = report_file(people["author"], status=S.SUBMITTED)
    response = client_for(people["author"]).post(
        url(report, "attachments"), {"file": io.BytesIO(b"MZ\x90 not a photo")}, format="multipart"
    )
    assert response.status_code == 400 and "file" in response.json()
    missing = client_for(people["author"]).post(url(report, "attachments"), {}, format="multipart")
    assert missing.status_code == 400 and "file" in missing.json()
    assert not Attachment.objects.exists()


def test_others_neither_upload_nor_download(people):
    report = report_file(people["author"], status=S.SUBMITTED)
    attachment = attachment_add(
        report=report,
        actor=people["author"],
        upload=SimpleUploadedFile("p.png", png(), content_type="image/png"),
    )
    download = url(report, "attachment-download", attachment_id=attachment.pk)
    assert client_for(people["elsewhere"]).get(download).status_code == 404
    assert client_for(people["partner"]).get(download).status_code == 404  # not verified
    assert client_for(None).get(download).status_code in (401, 403)
    wrong = url(report, "attachment-download", attachment_id=attachment.pk + 99)
    assert client_for(people["author"]).get(wrong).status_code == 404
    # the Turkish observer does not see another delegation's submitted report
    response = client_for(people["turkish"]).post(
        url(report, "attachments"), {"file": io.BytesIO(png())}, format="multipart"
    )
    assert response.status_code == 404
    assert Attachment.objects.count() == 1
