"""A real S3-compatible server for tests and benchmarks: moto's threaded server on 127.0.0.1
(a free port), with objects whose reads can be made to break mid-body (a dropped connection)
and IAM users whose policies the server enforces (a missing permission).

Used by tests/test_object_storage.py and benchmarks/bench_ingest_s3.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time

import pytest

BUCKET = "port-archive"
ADMIN = ("AKIAADMIN0000000000", "admin-secret-never-printed")


class S3Server:
    """moto's ThreadedMotoServer started on 127.0.0.1 (see :func:`s3_server`)."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.drop: set[str] = set()  # "bucket/key" whose GETs break after half the body
        self.requests: list[tuple] = []  # (method, path, Range header, query string)
        server = self

        class Server(ThreadedMotoServer):
            def _server_entry(self):  # moto's own, with a WSGI layer that can drop reads
                from moto.moto_server.threaded_moto_server import (MotoRequestHandler,
                                                                   make_server)
                from moto.server import DomainDispatcherApplication, create_backend_app

                app = server._flaky(DomainDispatcherApplication(create_backend_app))
                self._server = make_server(self._ip_address, self._port, app, True,
                                           request_handler=MotoRequestHandler)
                self._server_ready_event.set()
                self._server.serve_forever()

        self._moto = Server(ip_address="127.0.0.1", port=0, verbose=False)

    def _flaky(self, app):
        def wsgi(environ, start_response):
            key = environ.get("PATH_INFO", "").lstrip("/")
            self.requests.append((environ["REQUEST_METHOD"], key, environ.get("HTTP_RANGE"),
                                  environ.get("QUERY_STRING", "")))
            if environ["REQUEST_METHOD"] != "GET" or key not in self.drop:
                return app(environ, start_response)
            body = b"".join(app(environ, start_response))

            def broken():
                yield body[: len(body) // 2]
                raise ConnectionAbortedError("test: connection dropped mid-read")
            return broken()
        return wsgi

    def start(self) -> "S3Server":
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        deadline = time.monotonic() + 10  # poll until it answers (a server starting)
        import urllib.request
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return self

    def reset(self) -> None:
        """Forget every bucket, object and user (moto keeps them per process)."""
        import urllib.request

        import moto.settings

        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        urllib.request.urlopen(urllib.request.Request(self.endpoint + "/moto-api/reset",
                                                      method="POST"), timeout=10).close()
        self.drop.clear()
        self.requests.clear()

    def stop(self) -> None:
        import moto.settings

        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        self._moto.stop()

    def client(self, keys=ADMIN):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=keys[0], aws_secret_access_key=keys[1])

    def env(self, keys=ADMIN) -> dict[str, str]:
        """The environment variables a user sets to reach this server."""
        return {"AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1],
                "AWS_ENDPOINT_URL_S3": self.endpoint, "AWS_DEFAULT_REGION": "us-east-1"}

    def enforce_policies(self, users: dict[str, dict]) -> dict[str, tuple[str, str]]:
        """Create IAM users with these policies, then make the server check every request
        against them (moto's authentication, off by default); their (key, secret)."""
        import boto3
        import moto.settings

        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name="us-east-1",
                           aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1])
        keys = {}
        for name, policy in {"admin": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"}]}, **users}.items():
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
            k = iam.create_access_key(UserName=name)["AccessKey"]
            keys[name] = (k["AccessKeyId"], k["SecretAccessKey"])
        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        return keys


@contextlib.contextmanager
def s3_server():
    """A started :class:`S3Server` (skips the test when moto is not installed)."""
    pytest.importorskip("moto", reason="moto is not installed: pip install 'moto[server]' "
                        "(./dev.sh test installs it) to test ingest from object storage")
    pytest.importorskip("s3fs", reason='s3fs is not installed: pip install "alwidget[s3]"')
    server = S3Server().start()
    server.reset()
    try:
        yield server
    finally:
        server.stop()


def reset_s3fs() -> None:
    """Forget s3fs's cached filesystems (they hold the credentials they were made with)."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    os.environ.pop("AWS_PROFILE", None)
