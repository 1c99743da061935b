"""HTTP plumbing shared by the stand-ins: a threaded loopback server that can drop every open
connection (to simulate an outage) and stop at once, and a handler with TCP_NODELAY and no
request log."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def shutdown_quickly(self) -> None:
        """shutdown() waits up to poll_interval for the serve loop; wake it with connections."""
        waiter = threading.Thread(target=self.shutdown, daemon=True)
        waiter.start()
        while waiter.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection(self.server_address[:2], timeout=0.1).close()
            waiter.join(0.005)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_all_connections(self) -> None:
        with self._conn_lock:
            conns, self._connections = list(self._connections), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class StandInHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandInServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackService:
    """start() / stop() / `with` for a stand-in served in a background thread on 127.0.0.1.

    Subclasses set `server_class`, `handler_class`, `thread_name`, and `host`, `port`, `url`,
    `_server`, `_thread`, `_last_port` in __init__. stop() then start() binds the same port again,
    so a test can take a dependency away and bring it back at the same URL.
    """

    server_class: type[StandInServer]
    handler_class: type[StandInHandler]
    thread_name: str
    host: str
    port: int
    url: str | None
    _server: Any
    _thread: threading.Thread | None
    _last_port: int

    def start(self) -> str:
        """Bind (port 0 = a free one), serve in a thread, return the base URL."""
        if self._server is not None:
            assert self.url is not None
            return self.url
        self._server = self.server_class(
            (self.host, self.port or self._last_port), self.handler_class
        )
        self._server.standin = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        host, port = self._server.server_address[:2]
        self._last_port = port
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        """Stop serving and cut every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown_quickly()
        server.server_close()
        server.close_all_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
