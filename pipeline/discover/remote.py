"""Inputs and outputs on object storage: `s3://`, `gs://` and `az://` URLs, through obstore (the
Rust object_store that delta-rs also uses).

A location is a `Path` on local disk, or a URL string here: `Path("s3://b/x")` would fold the
double slash, so URLs are never made Paths. Credentials come from each cloud SDK's usual
environment variables (AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_ENDPOINT_URL, GOOGLE_APPLICATION_CREDENTIALS,
AZURE_STORAGE_ACCOUNT_NAME, ...), and for S3 also from the AWS config files through boto3 when it
is installed; never from fitpipe.toml.

Listing gives each object's size, ETag and last-modified, which planning compares with the
manifest as it compares a local file's size and mtime. A loose activity file is fetched by the
worker that parses it; a zip export is copied once to a temporary file of this process
(`local_copy`) and read from there like a local one.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

_URL = re.compile(r"^(s3|gs|az|abfss?|gcs)://[^/]+", re.IGNORECASE)
OBSTORE_HINT = "object storage needs obstore: pip install 'fitpipe[delta]'"
COPY_PREFIX = "fitpipe-remote-"


try:
    from obstore.exceptions import NotFoundError
    NOT_FOUND: tuple[type[BaseException], ...] = (FileNotFoundError, NotFoundError)
except ImportError:  # without obstore no store is ever opened: store_for says so
    NOT_FOUND = (FileNotFoundError,)


class RemoteError(RuntimeError):
    """The object store failed (unreachable, or an error mid-run); the message is one line
    naming the object or prefix."""


class StoreUnusable(RemoteError):
    """The object store cannot be used as set up (no credentials, wrong ones, no such bucket);
    the message is one line naming the bucket."""


def is_url(location) -> bool:
    return isinstance(location, str) and _URL.match(location) is not None


def location(value: str | Path) -> str | Path:
    """A location as the user wrote it: a URL stays a string, anything else is a Path."""
    return value if is_url(value) else Path(value).expanduser()


def bucket_of(url: str) -> str:
    """s3://bucket/key -> s3://bucket"""
    return _URL.match(url).group(0)


def split(url: str) -> tuple[str, str]:
    """(s3://bucket, key within it, without a leading slash)."""
    bucket = bucket_of(url)
    return bucket, url[len(bucket):].strip("/")


@lru_cache(maxsize=None)
def store_for(bucket: str):
    """An obstore store for `s3://bucket` (one per bucket and process)."""
    try:
        from obstore.store import from_url
    except ImportError:
        raise StoreUnusable(OBSTORE_HINT) from None
    from_files = bucket.lower().startswith("s3://") and not os.environ.get("AWS_ACCESS_KEY_ID")
    provider = _aws_config_files() if from_files else None
    try:
        return from_url(bucket, credential_provider=provider) if provider else from_url(bucket)
    except Exception as exc:
        raise failure(bucket, exc) from None


def _aws_config_files():
    """AWS_PROFILE and ~/.aws/ through boto3, when it is installed and finds credentials there."""
    session = _aws_session()
    if session is None:
        return None
    from obstore.auth.boto3 import Boto3CredentialProvider

    return Boto3CredentialProvider(session)


@lru_cache(maxsize=1)
def _aws_session():
    """A boto3 session that found credentials (in AWS_PROFILE's files, SSO, ...), or None."""
    try:
        import boto3
    except ImportError:
        return None
    session = boto3.Session()
    return session if session.get_credentials() is not None else None


def aws_profile_options() -> dict[str, str]:
    """For delta-rs, which reads only the environment: the credentials and region boto3 found in
    the AWS config files, when none are in the environment. Read when a command starts; a
    temporary (SSO) credential that expires mid-run fails the run, which the next one finishes."""
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return {}
    session = _aws_session()
    if session is None:
        return {}
    frozen = session.get_credentials().get_frozen_credentials()
    found = {"aws_access_key_id": frozen.access_key, "aws_secret_access_key": frozen.secret_key,
             "aws_session_token": frozen.token, "aws_region": session.region_name}
    return {k: v for k, v in found.items() if v}


NO_CREDENTIALS = "no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
# What a store's error says, in words a user can act on; True: the store cannot be used as set
# up (credentials, bucket), False: it failed for now (unreachable), and a later run may succeed.
_EXPLAINED = (
    ("NoSuchBucket", "no such bucket", True),
    ("InvalidAccessKeyId", "the access key is not valid: check AWS_ACCESS_KEY_ID or AWS_PROFILE", True),
    ("SignatureDoesNotMatch", "the secret key is wrong: check AWS_SECRET_ACCESS_KEY or AWS_PROFILE", True),
    # No credentials anywhere: the SDK's last resort, a cloud machine's metadata service, failed.
    ("/latest/api/token", NO_CREDENTIALS, True),
    ("/latest/meta-data", NO_CREDENTIALS, True),
    ("AccessDenied", "access denied: the credentials may not use this bucket", True),
    ("403 Forbidden", "access denied: check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                      "or AWS_PROFILE)", True),
    ("Connection refused", "cannot reach the object store (connection refused)", False),
    ("dns error", "cannot reach the object store (unknown host)", False),
    ("error sending request", "cannot reach the object store", False),
)


def failure(where: str, exc: BaseException) -> "RemoteError":
    """The one-line error for `exc`, raised by a store while using `where` (a URL)."""
    text = str(exc)
    for needle, words, unusable in _EXPLAINED:
        if needle.lower() in text.lower():
            return StoreUnusable(f"{bucket_of(where)}: {words}") if unusable else RemoteError(f"{where}: {words}")
    first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
    return RemoteError(f"{where}: {first}")


@dataclass(frozen=True)
class RemoteObject:
    url: str
    size_bytes: int
    mtime_ns: int
    etag: str | None


def listing(url: str) -> list[RemoteObject]:
    """The objects at `url`: itself if it names one, else every object under it as a prefix
    (hidden folders, those starting with '.', left out), sorted by URL. None at all is a
    FileNotFoundError, as a missing local input is."""
    found = sorted(_objects_at(url), key=lambda o: o.url)
    if not found:
        raise FileNotFoundError(f"{url}: no such object, nor objects under it")
    return found


def require(url: str) -> None:
    """FileNotFoundError unless `url` names an object or a prefix with objects under it; asks
    for one object, not the whole listing."""
    if next(_objects_at(url, page=1), None) is None:
        raise FileNotFoundError(f"{url}: no such object, nor objects under it")


def _objects_at(url: str, page: int | None = None):
    """The object `url` names, or else those under it, a listing page (of `page` objects) at a time."""
    import obstore

    bucket, key = split(url)
    store = store_for(bucket)
    with _translated(url, missing=None):
        if key:
            try:
                yield _object(bucket, obstore.head(store, key))
                return
            except NOT_FOUND:
                pass
        pages = obstore.list(store, prefix=f"{key}/" if key else None,
                             **({"chunk_size": page} if page else {}))
        for batch in pages:
            yield from (_object(bucket, meta) for meta in batch if not _hidden(meta["path"][len(key):]))


@contextmanager
def _translated(url: str, missing: str | None = "no such object"):
    """A store's errors while using `url` as one line: a missing object is a FileNotFoundError
    (none at all with `missing` None: the caller says what nothing means), any other a RemoteError."""
    try:
        yield
    except NOT_FOUND:
        if missing is not None:
            raise FileNotFoundError(f"{url}: {missing}") from None
    except Exception as exc:
        raise failure(url, exc) from None


def _object(bucket: str, meta: dict) -> RemoteObject:
    modified: datetime = meta["last_modified"]
    mtime_ns = int(modified.timestamp()) * 1_000_000_000 + modified.microsecond * 1000
    return RemoteObject(f"{bucket}/{meta['path']}", meta["size"], mtime_ns, meta.get("e_tag"))


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.strip("/").split("/")[:-1])


def fetch(url: str) -> bytes:
    """An object's bytes. A missing object is a FileNotFoundError (it went between listing and
    reading: the file is rejected); a store that fails is a RemoteError, which stops the run,
    as a file must not be recorded as rejected for the store's sake."""
    import obstore

    bucket, key = split(url)
    with _translated(url):
        return bytes(obstore.get(store_for(bucket), key).bytes())


_copies: dict[str, Path] = {}


def copied(url: str) -> Path | None:
    """The copy local_copy made of `url` in this process, if it made one."""
    return _copies.get(url)


def local_copy(url: str) -> Path:
    """A temporary copy of an object (a zip export), made once per process and removed at exit."""
    if url not in _copies:
        target = _copy_folder() / f"{len(_copies)}-{url.rsplit('/', 1)[-1]}"
        import obstore

        bucket, key = split(url)
        with _translated(url), open(target, "wb") as out:
            for chunk in obstore.get(store_for(bucket), key).stream(min_chunk_size=8 << 20):
                out.write(chunk)
        _copies[url] = target
    return _copies[url]


@lru_cache(maxsize=None)
def _copy_folder() -> Path:
    _remove_dead_copies()
    folder = Path(tempfile.mkdtemp(prefix=f"{COPY_PREFIX}{os.getpid()}-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _remove_dead_copies() -> None:
    """Copies left by a process that was killed (atexit never ran)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{COPY_PREFIX}*"):
        pid = folder.name[len(COPY_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True  # running (PermissionError too: another user's)
