"""A WSGI backend for the gate-bypass tests: Python's own wsgiref server,
which decodes the request path (%2F included) before the application sees
it, as every WSGI server does (gunicorn, Werkzeug, so Flask and Django).

Every request is answered with what the backend read, as JSON:
{"path_info": ..., "method": ...}. Prints its port, then serves forever.
"""
import json
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    body = json.dumps({"path_info": environ["PATH_INFO"], "method": environ["REQUEST_METHOD"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
print(server.server_port, flush=True)
sys.stdout.close()
server.serve_forever()
