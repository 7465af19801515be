"""Recordings and the admin import's confirm-step files in an S3-compatible bucket.

Against moto's standalone S3 server, started on a free loopback port for this module: the
same HTTP API, signatures and Range handling the app uses against S3 or MinIO.
"""

import socket
import subprocess
import sys
import time
import uuid

import boto3
import pytest
from django.core.files.base import ContentFile

from calls.models import Call
from calls.tests.factories import CallFactory
from calls.tests.test_admin_calls import import_csv, row
from staff.tests.test_recordings import body, wav_bytes

pytestmark = pytest.mark.django_db

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "moto's S3 server exited"
                assert time.monotonic() < deadline, "moto's S3 server did not start"
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch):
    """A fresh bucket as the default storage, configured as S3_BUCKET etc. would."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    name = f"recordings-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": name,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "location": "callportal",
                "default_acl": None,
                "file_overwrite": False,
                "querystring_auth": True,
            },
        },
    }
    return client, name


def keys(bucket) -> list[str]:
    client, name = bucket
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=name).get("Contents", []))


@pytest.fixture
def no_whole_downloads(monkeypatch):
    """Fail if anything downloads a whole object through S3Storage's file object."""
    from storages.backends.s3 import S3File

    def refuse(self):
        raise AssertionError("the whole object was downloaded")

    monkeypatch.setattr(S3File, "_get_file", refuse)


def test_an_uploaded_recording_is_stored_in_the_bucket(bucket, client, api_key):
    from apikeys.services import create_api_key

    _, ingest_key = create_api_key("Recorder", can_ingest=True)
    call = CallFactory()
    data = wav_bytes()
    response = client.put(
        f"/api/v1/calls/{call.pk}/recording",
        data,
        content_type="audio/wav",
        headers={"X-Api-Key": ingest_key},
    )
    assert response.status_code in (200, 201), response.content
    call.refresh_from_db()
    assert keys(bucket) == [f"callportal/{call.recording.name}"]
    stored = bucket[0].get_object(Bucket=bucket[1], Key=f"callportal/{call.recording.name}")
    assert stored["Body"].read() == data


@pytest.fixture
def recorded_call(bucket):
    call = CallFactory(recording_content_type="audio/wav")
    call.recording.save("call.wav", ContentFile(wav_bytes(seconds=2)))
    return call


def test_playback_streams_a_range_from_the_bucket(
    bucket, recorded_call, client, staff_user, no_whole_downloads
):
    client.force_login(staff_user)
    data = wav_bytes(seconds=2)

    response = client.get(f"/calls/{recorded_call.pk}/recording", headers={"Range": "bytes=100-"})

    assert response.status_code == 206
    assert response.streaming
    assert response["Content-Range"] == f"bytes 100-{len(data) - 1}/{len(data)}"
    assert body(response) == data[100:]


def test_playback_of_the_whole_recording_streams_it_from_the_bucket(
    bucket, recorded_call, client, staff_user, no_whole_downloads
):
    client.force_login(staff_user)

    response = client.get(f"/calls/{recorded_call.pk}/recording")

    assert response.status_code == 200
    assert response["Content-Length"] == str(len(wav_bytes(seconds=2)))
    assert body(response) == wav_bytes(seconds=2)


def test_a_suffix_range_and_an_unsatisfiable_one_are_answered_from_the_bucket(
    bucket, recorded_call, client, staff_user
):
    client.force_login(staff_user)
    url = f"/calls/{recorded_call.pk}/recording"
    size = len(wav_bytes(seconds=2))

    last = client.get(url, headers={"Range": "bytes=-10"})
    beyond = client.get(url, headers={"Range": f"bytes={size}-"})

    assert (last.status_code, body(last)) == (206, wav_bytes(seconds=2)[-10:])
    assert (beyond.status_code, beyond["Content-Range"]) == (416, f"bytes */{size}")


def test_the_import_confirm_step_file_lives_in_the_bucket_until_confirmed(
    bucket, admin_client, monkeypatch
):
    seen: list[list[str]] = []
    from import_export.tmp_storages import MediaStorage

    real_read = MediaStorage.read

    def read(self):
        seen.append(keys(bucket))  # what the bucket holds when the confirm step reads it
        return real_read(self)

    monkeypatch.setattr(MediaStorage, "read", read)

    import_csv(admin_client, [row(caller_number="+15551234567")])

    assert Call.objects.filter(caller_number="+15551234567").count() == 1
    assert any(k.startswith("callportal/django-import-export/") for k in seen[0])
    assert not [k for k in keys(bucket) if "django-import-export" in k]  # removed after


def test_s3_bucket_settings_make_the_bucket_the_default_storage():
    from callportal.tests.test_settings import load_settings

    shown = load_settings(
        code=(
            "from django.conf import settings; d = settings.STORAGES['default']; "
            "print(d['BACKEND'], d['OPTIONS']['bucket_name'], d['OPTIONS']['endpoint_url'], "
            "d['OPTIONS']['location'])"
        ),
        SECRET_KEY="x" * 50,
        S3_BUCKET="calls",
        S3_ENDPOINT_URL="https://s3.example.net",
        S3_PREFIX="prod",
    )
    assert shown.stdout.split() == [
        "storages.backends.s3.S3Storage",
        "calls",
        "https://s3.example.net",
        "prod",
    ], shown.stderr
