"""``trailmatch serve``: the officer service (HTTP API and web page) over a store."""

from __future__ import annotations

import argparse
import sys

from trailmatch.commands.argtypes import at_least_one
from trailmatch.commands.argtypes import port as tcp_port
from trailmatch.commands.options import add_store_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the officer service (HTTP API and web page)",
                       description="Serve the hits API and the officer page over a store. "
                                   "Listens on loopback unless told otherwise.")
    add_store_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=tcp_port, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--workers", type=at_least_one, default=1,
                   help="worker processes (default 1; each keeps its own index cache). On the "
                        "SQLite hit store they take turns at its one write lock (every request "
                        "writes an audit row); a PostgreSQL one (--db) suits several better")
    basemap = p.add_mutually_exclusive_group()
    basemap.add_argument("--tile-url", metavar="TEMPLATE",
                         help="map tile URL template for the page, e.g. "
                              "https://tiles.example/{z}/{x}/{y}.png (default: none, plain "
                              "background)")
    basemap.add_argument("--tiles", metavar="FILE.mbtiles",
                         help="raster MBTiles file whose tiles the service serves itself at "
                              "/tiles/{z}/{x}/{y}, to signed-in users (for a closed network)")
    p.add_argument("--tile-attribution", default="",
                   help="attribution text shown with the tiles (default with --tiles: the "
                        "file's own)")
    p.add_argument("--forwarded-allow-ips", metavar="IPS", default=None,
                   help="addresses of trusted reverse proxies (comma-separated, or '*'): only "
                        "requests from them may name the client in X-Forwarded-For; by default "
                        "none, and the audit log records the socket peer")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from trailmatch.hitstore import open_store
    from trailmatch.store import Store

    # the trails the service shows: never an empty misspelt folder, nor a store made before
    # OSTN15 (both refused with one line; purge and users still work on the latter)
    Store.existing(args.store).check_transformation()
    if args.tiles:  # refused before anything starts: one line naming the file
        from trailmatch.mbtiles import MBTiles, TilesError

        try:
            MBTiles(args.tiles)
        except TilesError as e:
            print(f"trailmatch serve: {e}", file=sys.stderr)
            return 1
    try:  # migrate (and check the database answers) once, before any worker starts
        open_store(args.store, args.db).dispose()
    except Exception as e:  # noqa: BLE001 - any database failure is reported the same way
        print(f"trailmatch serve: cannot open the hit store: {e}", file=sys.stderr)
        return 1
    os.environ["TRAILMATCH_SERVE_STORE"] = str(args.store)
    if args.db:
        os.environ["TRAILMATCH_SERVE_DB"] = args.db
    if args.tile_url:
        os.environ["TRAILMATCH_SERVE_TILE_URL"] = args.tile_url
    if args.tiles:
        os.environ["TRAILMATCH_SERVE_TILES"] = str(os.path.abspath(args.tiles))
    if args.tile_url or args.tiles:
        os.environ["TRAILMATCH_SERVE_TILE_ATTRIBUTION"] = args.tile_attribution
    print(f"trailmatch serve: http://{args.host}:{args.port}/ (API docs at /docs)",
          file=sys.stderr)
    if args.workers > 1 and not args.db:
        print(f"trailmatch serve: note: the {args.workers} workers take turns at the SQLite "
              "file's one write lock (an audit row per request); PostgreSQL (--db) suits "
              "several workers better", file=sys.stderr)
    uvicorn.run("service.app:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning", access_log=False,
                # the audit's client address: the socket peer unless a proxy is trusted
                proxy_headers=bool(args.forwarded_allow_ips),
                forwarded_allow_ips=args.forwarded_allow_ips or "",
                http="service.server:NoDelayHttpProtocol",
                # one process: accept every pending connection at once (service/server.py);
                # several share one listening socket, where a greedy accept would take every
                # connection of a burst into one worker, so they keep uvloop's one at a time
                loop="service.server:new_event_loop" if args.workers == 1 else "auto",
                # clients (and proxies) keep connections open between an officer's clicks
                timeout_keep_alive=75)
    return 0
