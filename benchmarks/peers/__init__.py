"""trailmatch against the peers a user would reach for (GeoPandas, PostGIS, MEOS, rtree,
shapely STRtree): same data, same machine, hit sets checked. Run: ``python -m
benchmarks.peers.run``."""
