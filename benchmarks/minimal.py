"""aiohttp's own minimal handler, the limit of the query benchmark: ``python -m
benchmarks.minimal PORT`` serves ``GET /`` with two bytes until SIGTERM."""

from __future__ import annotations

import sys

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=b"ok")


def main() -> None:
    app = web.Application()
    app.router.add_get("/", hello)
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
        handle_signals=True,
    )


if __name__ == "__main__":
    main()
