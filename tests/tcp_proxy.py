"""A TCP proxy: `python tests/tcp_proxy.py LISTEN_PORT TARGET_PORT` forwards 127.0.0.1:LISTEN_PORT
to 127.0.0.1:TARGET_PORT. A test puts it between fitpipe and the S3 server and kills it, so the
server goes away mid-run as a network cut makes it, while its data lives on for the next run."""

from __future__ import annotations

import socket
import sys
import threading


def pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, target):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listen_port: int, target_port: int) -> None:
    listener = socket.create_server(("127.0.0.1", listen_port), reuse_port=False)
    print("ready", flush=True)
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", target_port))
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
