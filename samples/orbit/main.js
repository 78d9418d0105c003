// orbit: rings of entities circling the origin. The same game as main.lua,
// line for line, so the two runtimes can be checked against each other: in
// lockstep both must end with the same world hash.
var RINGS = 5;
var PER_RING = 60;
var TWO_PI = 2 * Math.PI;

var ids = [];
var t = 0;
var spin = 1;
var ticks = 0;
var ready = 0;

function orbit(ring, k, time) {
  var radius = 4 + 3 * ring;
  var angle = k * (TWO_PI / PER_RING) + time * (0.2 + 0.1 * ring) * spin;
  return {x: radius * Math.cos(angle), y: 0.5 * ring, z: radius * Math.sin(angle)};
}

function on_created(id, err) {
  if (err) {
    log.error("orbit: entity", id, "was not created:", err);
  } else {
    ready = ready + 1;
  }
}

function init() {
  var cam = camera.create({position: {x: 0, y: 14, z: 26}, target: {x: 0, y: 0, z: 0}, fov: 60});
  camera.set_active(cam);
  light.create({kind: "directional", position: {x: 1, y: 3, z: 1}, intensity: 2});
  for (var ring = 0; ring <= RINGS - 1; ring++) {
    for (var k = 0; k <= PER_RING - 1; k++) {
      var i = ring * PER_RING + k;
      var mesh = "cube";
      if (i % 3 === 0) { mesh = "sphere"; }
      var color = {r: 0.2 + 0.6 * Math.random(), g: 0.4 + 0.1 * ring, b: 1 - 0.15 * ring, a: 1};
      var cb = undefined;
      if (k === 0) { cb = on_created; }
      ids[i] = entity.create({mesh: mesh, position: orbit(ring, k, 0), scale: {x: 0.5, y: 0.5, z: 0.5},
                              color: color}, cb);
    }
  }
  cvar.on_change("sim_speed", function (value, name) {
    spin = value;
    log.info("orbit:", name, "is now", value);
  });
  log.info("orbit: created", RINGS * PER_RING, "entities");
}

// One ring moves per tick, so a fifth of the entities are dirty each tick.
function update(dt) {
  ticks = ticks + 1;
  t = t + dt;
  var ring = ticks % RINGS;
  for (var k = 0; k <= PER_RING - 1; k++) {
    entity.update(ids[ring * PER_RING + k], {position: orbit(ring, k, t)});
  }
  if (ticks === 90) {
    cvar.set("sim_speed", 1.5);
  }
  if (ticks % 150 === 0) {
    log.info("orbit: tick", ticks, "entities", entity.count(), "rings ready", ready);
  }
}

function shutdown() {
  log.info("orbit: done after", ticks, "ticks");
}
