// orbit: rings of entities circling the origin. The same game as main.lua,
// line for line, so the two runtimes can be checked against each other: in
// lockstep both must end with the same world hash.
//
// Play it in a window: the arrow keys steer the camera around the rings
// (left/right turn, up/down tilt), the wheel zooms, space pauses and
// resumes (through the sim_speed cvar), a click paints the entity nearest
// the cursor. Escape or closing the window ends the run. Without input
// (headless) the game runs exactly as it always did.
var RINGS = 5;
var PER_RING = 60;
var TWO_PI = 2 * Math.PI;
var TURN = 0.05; // camera radians per tick while an arrow key is held
var PICK_RADIUS = 40; // pixels: a click farther from every entity paints nothing
var PAINT = [{r: 1, g: 0.85, b: 0.2}, {r: 1, g: 0.3, b: 0.3}, {r: 0.3, g: 1, b: 0.4}];

var ids = [];
var where = []; // each entity's last position, for picking
var t = 0;
var spin = 1;
var ticks = 0;
var ready = 0;
var paused = false;
var resume_speed = 1;
var cam = null;
var yaw = 0, pitch = Math.atan2(14, 26), distance = Math.sqrt(14 * 14 + 26 * 26);
var painted = 0;

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

function camera_position() {
  return {x: distance * Math.cos(pitch) * Math.sin(yaw), y: distance * Math.sin(pitch),
          z: distance * Math.cos(pitch) * Math.cos(yaw)};
}

// Where a world point lands on the screen (pixels, y down), or null behind
// the camera: the renderer's perspective (60 degrees vertical) looking at
// the origin.
function project(p, eye, screen) {
  var fx = -eye.x, fy = -eye.y, fz = -eye.z;
  var fl = Math.sqrt(fx * fx + fy * fy + fz * fz);
  fx = fx / fl; fy = fy / fl; fz = fz / fl;
  var rx = -fz, rz = fx; // forward x (0, 1, 0)
  var rl = Math.sqrt(rx * rx + rz * rz);
  rx = rx / rl; rz = rz / rl;
  var ux = -rz * fy, uy = rz * fx - rx * fz, uz = rx * fy; // right x forward
  var dx = p.x - eye.x, dy = p.y - eye.y, dz = p.z - eye.z;
  var depth = dx * fx + dy * fy + dz * fz;
  if (depth <= 0.1) { return null; }
  var f = 1 / Math.tan(60 * Math.PI / 180 / 2);
  var aspect = screen.width / screen.height;
  var sx = (dx * rx + dz * rz) * f / aspect / depth;
  var sy = (dx * ux + dy * uy + dz * uz) * f / depth;
  return {x: (sx + 1) / 2 * screen.width, y: (1 - sy) / 2 * screen.height};
}

function paint_nearest(mouse) {
  var screen = engine.screen();
  if (screen.width === 0 || screen.height === 0) { return; }
  var eye = camera_position();
  var best = -1, best_d = PICK_RADIUS * PICK_RADIUS;
  for (var i = 0; i < ids.length; i++) {
    var s = project(where[i], eye, screen);
    if (s) {
      var d = (s.x - mouse.x) * (s.x - mouse.x) + (s.y - mouse.y) * (s.y - mouse.y);
      if (d < best_d) { best = i; best_d = d; }
    }
  }
  if (best >= 0) {
    painted = painted + 1;
    entity.update(ids[best], {color: PAINT[(painted - 1) % PAINT.length]});
    log.info("orbit: painted entity", ids[best]);
  }
}

function steer() {
  var moved = false;
  if (input.down("left")) { yaw = yaw - TURN; moved = true; }
  if (input.down("right")) { yaw = yaw + TURN; moved = true; }
  if (input.down("up")) { pitch = Math.min(pitch + TURN, 1.5); moved = true; }
  if (input.down("down")) { pitch = Math.max(pitch - TURN, 0.05); moved = true; }
  var wheel = input.wheel().y;
  if (wheel !== 0) { distance = Math.max(5, Math.min(80, distance - 2 * wheel)); moved = true; }
  if (moved) { camera.update(cam, {position: camera_position()}); }
}

function init() {
  cam = camera.create({position: {x: 0, y: 14, z: 26}, target: {x: 0, y: 0, z: 0}, fov: 60});
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
      where[i] = orbit(ring, k, 0);
      ids[i] = entity.create({mesh: mesh, position: where[i], scale: {x: 0.5, y: 0.5, z: 0.5},
                              color: color}, cb);
    }
  }
  cvar.on_change("sim_speed", function (value, name) {
    paused = value === 0;
    if (!paused) { spin = value; }
    log.info("orbit:", name, "is now", value);
  });
  log.info("orbit: created", RINGS * PER_RING, "entities");
}

// One ring moves per tick, so a fifth of the entities are dirty each tick.
function update(dt) {
  steer();
  if (input.mouse_pressed("left")) { paint_nearest(input.mouse()); }
  if (input.pressed("space")) {
    if (paused) {
      cvar.set("sim_speed", resume_speed);
    } else {
      resume_speed = cvar.get("sim_speed");
      cvar.set("sim_speed", 0);
    }
    paused = !paused;
  }
  if (paused) { return; }
  ticks = ticks + 1;
  t = t + dt;
  var ring = ticks % RINGS;
  for (var k = 0; k <= PER_RING - 1; k++) {
    var i = ring * PER_RING + k;
    where[i] = orbit(ring, k, t);
    entity.update(ids[i], {position: where[i]});
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
