"""An app behind Sekisho's proxy, on werkzeug (Flask's routing and server), that says which of
its routes answered a request, so a test can compare that with the skip_auth rule Sekisho
applied. werkzeug routes PATH_INFO: percent-decoded (`%2F` too), dot segments not resolved;
repeated slashes are answered with a redirect to the merged path.

Usage: python server.py  (prints "listening on PORT" once it accepts connections)
"""

import json
import sys

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ROUTES = Map(
    [
        Rule("/api/v4/", endpoint="api"),
        Rule("/api/v4/<path:rest>", endpoint="api"),
        Rule("/hooks/<path:rest>", endpoint="hooks"),
        Rule("/admin/", endpoint="admin"),
        Rule("/admin/<path:rest>", endpoint="admin"),
        Rule("/", endpoint="other"),
        Rule("/<path:rest>", endpoint="other"),
    ]
)


@Request.application
def app(request):
    try:
        route, _ = ROUTES.bind_to_environ(request.environ).match()
    except HTTPException as e:
        return e
    body = json.dumps({"route": route, "path": request.path})
    return Response(body, content_type="application/json")


def main():
    server = make_server("127.0.0.1", 0, app)
    print(f"listening on {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
