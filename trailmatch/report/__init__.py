"""Per-force outputs of a run: evidence per hit, hits.geojson and the printable report.html."""
