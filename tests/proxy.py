"""A TCP proxy a test controls: it forwards to a server until told to cut the line."""

import contextlib
import selectors
import socket
import threading


class TCPProxy:
    """Forwards 127.0.0.1:<port> to `target`. `cut()` drops every connection and
    refuses new ones (as a dead server or network would); `restore()` reopens."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def cut(self) -> None:
        self._open.clear()
        with self._lock:
            for connection in self._connections:
                _close(connection)
            self._connections.clear()

    def restore(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._stopped.set()
        self.cut()
        _close(self.listener)
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._open.is_set():
                _close(client)  # the line is cut: the peer sees the connection drop
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._connections.update((client, upstream))
            threading.Thread(
                target=self._pipe, args=(client, upstream), daemon=True
            ).start()

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                sock.setblocking(True)
                selector.register(sock, selectors.EVENT_READ)
            try:
                while True:
                    for key, _ in selector.select(timeout=1):
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        peers[key.fileobj].sendall(data)
            except (OSError, ValueError):
                return
            finally:
                with self._lock:
                    for sock in peers:
                        self._connections.discard(sock)
                        _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
