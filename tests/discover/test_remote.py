"""Object-store locations and planning, without a server: what a URL is, and when an object
counts as unchanged (tests/sinks/test_object_store.py runs them against a real server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.discover import remote
from pipeline.discover.files import SourceFile, is_unchanged


@pytest.mark.parametrize("value,url", [("s3://club-uploads/ana", True), ("gs://b/x.fit", True), ("az://c/p", True),
                                       ("S3://Bucket/k", True), ("s3:/folded/path", False), ("exports/s3", False),
                                       ("http://example.com/x.fit", False)])
def test_a_url_stays_a_string_and_anything_else_is_a_path(value, url):
    found = remote.location(value)
    assert remote.is_url(found) is url
    assert found == value if url else found == Path(value)


def test_a_url_splits_into_its_bucket_and_key():
    assert remote.split("s3://club/ana/2026/ride.fit") == ("s3://club", "ana/2026/ride.fit")
    assert remote.split("s3://club/") == ("s3://club", "")


def row(size: int, mtime_ns: int, etag: str | None) -> dict:
    return {"size_bytes": size, "mtime_ns": mtime_ns, "etag": etag}


def test_an_object_is_unchanged_only_while_size_last_modified_and_etag_all_hold():
    listed = SourceFile("s3://club/a.fit", "fit", None, 100, 5_000_000_000, etag='"abc"')
    assert is_unchanged(listed, row(100, 5_000_000_000, '"abc"'))
    # Rewritten within the same second with the same length: only the ETag tells.
    assert not is_unchanged(listed, row(100, 5_000_000_000, '"def"'))
    assert not is_unchanged(listed, row(101, 5_000_000_000, '"abc"'))
    assert not is_unchanged(listed, row(100, 6_000_000_000, '"abc"'))
    assert not is_unchanged(listed, None)


def test_a_local_file_planned_against_a_manifest_written_before_etags_is_unchanged():
    local = SourceFile(Path("/data/a.fit"), "fit", None, 100, 5)
    assert is_unchanged(local, row(100, 5, None))  # the manifest's etag column read back as null


def test_a_store_error_becomes_one_line_naming_the_bucket_or_the_object():
    refused = remote.failure("s3://club/in/a.fit", OSError("Generic S3 error: error sending request\n"
                                                          "Connection refused (os error 111)"))
    assert type(refused) is remote.RemoteError and str(refused) == \
        "s3://club/in/a.fit: cannot reach the object store (connection refused)"
    missing = remote.failure("s3://nope/in", OSError("<Code>NoSuchBucket</Code>\nmore"))
    assert isinstance(missing, remote.StoreUnusable) and str(missing) == "s3://nope: no such bucket"
    other = remote.failure("s3://club/in", OSError("something new\nwith detail"))
    assert str(other) == "s3://club/in: something new"
