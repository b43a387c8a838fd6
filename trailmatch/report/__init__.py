"""Per-force outputs of a run: evidence per hit, map layers (GeoJSON), the printable report."""
