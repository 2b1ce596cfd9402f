"""How every fake runs as its own process: announce the URL, serve until SIGTERM/SIGINT."""
import signal
import threading


def serve_until_stopped(server, url):
    """Prints "listening on URL" (the line test fixtures wait for), then blocks until a signal."""
    print("listening on " + url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
