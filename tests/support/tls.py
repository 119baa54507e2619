"""TLS in front of a test server, as an ingress terminates it in production.

``private_ca(dir)`` has openssl make a CA and a certificate for ``127.0.0.1``/``localhost``
signed by it; ``TlsProxy`` accepts TLS on a free loopback port and forwards the bytes to a
plain backend port, so the real ``rise server`` is reached over https with a private CA.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.support.waiting import free_port


@dataclass(frozen=True)
class PrivateCa:
    ca_file: Path
    cert_file: Path
    key_file: Path


def private_ca(directory: Path) -> PrivateCa:
    """A CA, and a certificate for 127.0.0.1 and localhost it signed, made by openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = PrivateCa(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    ca_key = directory / "ca-key.pem"
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-noenc"]
    _openssl(
        "req",
        "-x509",
        *new_key,
        "-keyout",
        ca_key,
        "-out",
        paths.ca_file,
        "-subj",
        "/CN=rise test CA",
        "-days",
        "1",
    )
    request = _openssl(
        "req",
        "-new",
        *new_key,
        "-keyout",
        paths.key_file,
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
    )
    _openssl(
        "x509",
        "-req",
        "-CA",
        paths.ca_file,
        "-CAkey",
        ca_key,
        "-copy_extensions",
        "copy",
        "-days",
        "1",
        "-out",
        paths.cert_file,
        stdin=request,
    )
    return paths


def _openssl(*args: str | Path, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["openssl", *map(str, args)], input=stdin, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


class TlsProxy:
    """``https://127.0.0.1:PORT`` in front of ``127.0.0.1:backend``, in a thread."""

    def __init__(self, backend_port: int, ca: PrivateCa) -> None:
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self._backend = backend_port
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(ca.cert_file, ca.key_file)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> TlsProxy:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        self._server = started.result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self) -> asyncio.Server:
        return await asyncio.start_server(self._connect, "127.0.0.1", self.port, ssl=self._context)

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._backend)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()
