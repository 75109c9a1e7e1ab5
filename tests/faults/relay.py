"""A TCP relay that can partition what it relays: the soak test puts it
between the client and one ppserver.

    python relay.py LISTEN_PORT TARGET_PORT

SIGUSR1 partitions: bytes in both directions are read and dropped, and no
connection is closed, as when a network silently loses packets (no RST, no
FIN). SIGUSR2 heals: new connections are relayed again; those that lived
through the partition stay black holes (the client has given up on them).
Loopback only.
"""

import signal
import socket
import sys
import threading

partitioned = threading.Event()


def pump(src: socket.socket, dst: socket.socket, hole: threading.Event) -> None:
    try:
        while True:
            data = src.recv(1 << 16)
            if not data:
                break
            if partitioned.is_set():
                hole.set()
            if not hole.is_set():
                dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main() -> None:
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    signal.signal(signal.SIGUSR1, lambda *_: partitioned.set())
    signal.signal(signal.SIGUSR2, lambda *_: partitioned.clear())
    server = socket.create_server(("127.0.0.1", listen_port))
    print("relaying", flush=True)
    while True:
        client, _ = server.accept()
        try:
            target = socket.create_connection(("127.0.0.1", target_port), timeout=5)
            target.settimeout(None)
        except OSError:
            client.close()
            continue
        hole = threading.Event()
        if partitioned.is_set():
            hole.set()
        for a, b in ((client, target), (target, client)):
            threading.Thread(target=pump, args=(a, b, hole), daemon=True).start()


if __name__ == "__main__":
    main()
