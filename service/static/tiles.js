// The map's base layer, from the service's /config:
// - the service's own tiles (serve --tiles FILE.mbtiles): /tiles/{z}/{x}/{y} needs the bearer
//   token, which an <img> cannot send, so AuthTileLayer fetches each tile with the
//   Authorization header and gives Leaflet a blob: URL (revoked once the image has loaded);
// - a tile server's URL template (serve --tile-url): a plain Leaflet tile layer;
// - neither: a grid on the map's background and a visible "no basemap configured" label.
// Nothing here loads from outside the page's own origin unless --tile-url names a server.
"use strict";

const AuthTileLayer = L.TileLayer.extend({
  initialize(url, token, options) {
    L.TileLayer.prototype.initialize.call(this, url, options);
    this._token = token;
  },

  createTile(coords, done) {
    const tile = document.createElement("img");
    tile.alt = "";
    tile.setAttribute("role", "presentation");
    const url = this.getTileUrl(coords);
    fetch(url, { headers: { "Authorization": "Bearer " + this._token() }, cache: "default" })
      .then((response) => {
        if (!response.ok) { throw new Error("tile " + url + ": " + response.status); }
        return response.blob();
      })
      .then((blob) => {
        const objectUrl = URL.createObjectURL(blob);
        tile.onload = () => { URL.revokeObjectURL(objectUrl); done(null, tile); };
        tile.onerror = () => { URL.revokeObjectURL(objectUrl); done(new Error(url), tile); };
        tile.src = objectUrl;
      })
      .catch((error) => done(error, tile));  // a missing tile stays blank
    return tile;
  },
});

// Adds the base layer (or the grid and its label) to `map`; `config` is /config's answer and
// `token` a function returning the signed-in user's token.
function addBasemap(map, config, token) {
  if (!config.tile_url) {
    map.getContainer().classList.add("no-basemap");
    const Label = L.Control.extend({
      onAdd() {
        const div = L.DomUtil.create("div", "basemap-label");
        div.id = "basemap-label";
        div.textContent = "no basemap configured";
        return div;
      },
    });
    new Label({ position: "topright" }).addTo(map);
    return null;
  }
  const options = { attribution: config.tile_attribution || "", maxZoom: 20 };
  if (config.tile_max_zoom !== null && config.tile_max_zoom !== undefined) {
    options.maxNativeZoom = config.tile_max_zoom;  // closer views enlarge the deepest tiles
  }
  if (config.tile_min_zoom !== null && config.tile_min_zoom !== undefined) {
    options.minNativeZoom = config.tile_min_zoom;
  }
  if (config.tile_bounds) {  // west, south, east, north: ask for nothing outside
    const [w, s, e, n] = config.tile_bounds;
    options.bounds = L.latLngBounds([s, w], [n, e]);
  }
  const layer = config.tiles_need_token
    ? new AuthTileLayer(config.tile_url, token, options)
    : L.tileLayer(config.tile_url, options);
  return layer.addTo(map);
}
