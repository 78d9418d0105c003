// cvar.get by type, cvar.set formatting, on_change handlers in registration
// order with an error in the middle one.
var ticks = 0;

function init() {
  log.info("get", cvar.get("r_fov"), typeof cvar.get("r_fov"), cvar.get("r_vsync"), cvar.get("g_speed"),
           cvar.get("player_name"));
  cvar.on_change("r_fov", function (value, name) { log.info("h1", value, name); });
  cvar.on_change("r_fov", function (value, name) {
    log.info("h2", value, name);
    throw new Error("h2 failed");
  });
  cvar.on_change("r_fov", function (value, name) { log.info("h3", value, name); });
  cvar.on_change("r_vsync", function (value, name) { log.info("vsync", value, typeof value); });
}

function update(dt) {
  ticks++;
  log.info("ticks=" + ticks);
  if (ticks === 1) {
    cvar.set("r_fov", 75);
    cvar.set("r_vsync", false);
    cvar.set("g_speed", 0.25);
    cvar.set("player_name", "Grace");
  }
}
