"""Small object-store operations on a zone URI, the same code for local folders and S3.

Spark reads and writes the data files itself; this module handles the few small objects the jobs manage
directly (run manifests, bookmark state) and listings. Locally a zone is a ``file://`` URI (or a plain path);
on AWS it is ``s3://bucket/prefix``. Writes of small objects are atomic on both: a rename of a complete temporary
file locally, a single PUT on S3.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse


def join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(part.strip("/") for part in parts)])


def normalise_uri(uri: str) -> str:
    """A plain path becomes an absolute ``file://`` URI; other URIs pass through unchanged."""
    if "://" in uri:
        return uri.rstrip("/")
    return Path(uri).resolve().as_uri()


class ZoneStore:
    """Read, write, list and delete small objects under a root URI."""

    @staticmethod
    def for_uri(uri: str, aws_config=None) -> "ZoneStore":
        """The store of a zone URI; ``aws_config`` is a botocore ``Config`` for an S3 zone's client."""
        uri = normalise_uri(uri)
        scheme = urlparse(uri).scheme
        if scheme == "file":
            return LocalZoneStore(uri)
        if scheme in ("s3", "s3a"):
            return S3ZoneStore(uri, config=aws_config)
        raise ValueError(f"unsupported zone URI scheme {scheme!r} in {uri!r}: use file:// or s3://")

    def __init__(self, uri: str):
        self.uri = normalise_uri(uri)

    def uri_of(self, key: str) -> str:
        return join_uri(self.uri, key)


class LocalZoneStore(ZoneStore):
    def __init__(self, uri: str):
        super().__init__(uri)
        self.root = Path(urlparse(self.uri).path)

    def _path(self, key: str) -> Path:
        return self.root / key

    def read_text(self, key: str) -> str:
        return self._path(key).read_text()

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def write_text(self, key: str, text: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write beside the target, fsync, then rename: a reader sees the old object or the whole new one.
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        except OSError as error:
            raise OSError(error.errno, f"{error.strerror}: cannot write {key} in {self.uri}") from None
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
        except BaseException as error:
            Path(tmp_name).unlink(missing_ok=True)
            if isinstance(error, OSError) and error.errno is not None:
                raise OSError(error.errno, f"{error.strerror}: cannot write {key} in {self.uri}") from None
            raise

    def list_keys(self, prefix: str) -> list[str]:
        """Keys of the files under ``prefix`` (recursively), relative to the root, sorted."""
        base = self._path(prefix)
        if not base.exists():
            return []
        return sorted(
            str(path.relative_to(self.root))
            for path in base.rglob("*")
            if path.is_file() and not path.name.startswith(".tmp-")
        )

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        import shutil

        path = self._path(prefix)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        # Folders left empty (a table's ingest_date=... with no run in it) would show up as empty partitions.
        # Writers in parallel threads may empty and remove the same parent at once: whoever comes second finds
        # it gone (or refilled), which is fine either way.
        parent = path.parent
        while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
            try:
                parent.rmdir()
            except (FileNotFoundError, OSError):
                break
            parent = parent.parent


class S3ZoneStore(ZoneStore):
    def __init__(self, uri: str, client=None, config=None):
        super().__init__(uri)
        parsed = urlparse(self.uri)
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        if client is None:
            import boto3

            client = boto3.client("s3", config=config)
        self.client = client

    def _key(self, key: str) -> str:
        return "/".join(part for part in (self.prefix, key.strip("/")) if part)

    def read_text(self, key: str) -> str:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read().decode()

    def exists(self, key: str) -> bool:
        response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(key), MaxKeys=1)
        return any(item["Key"] == self._key(key) for item in response.get("Contents", []))

    def write_text(self, key: str, text: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=text.encode())

    def list_keys(self, prefix: str) -> list[str]:
        keys = []
        paginator = self.client.get_paginator("list_objects_v2")
        root = f"{self.prefix}/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys.extend(item["Key"][len(root):] for item in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def delete_prefix(self, prefix: str) -> None:
        for key in self.list_keys(prefix):
            self.delete(key)
