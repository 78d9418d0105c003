// A game driven by input, for the window and replay tests: it logs every
// edge it sees ("seen: ..."), and what it sees changes the world (space
// drops a box where the mouse is, arrows move the last one, a click paints
// the first one, the wheel lifts it), so the world hash depends on every
// event. main.lua is the same game line for line.
var KEYS = ["a", "b", "space", "left", "right", "up", "down", "shift", "enter", "1"];
var BUTTONS = ["left", "right", "middle"];
var boxes = [];
var mx = -1, my = -1;
var sw = -1, sh = -1;
var lift = 0;

function update(dt) {
  for (var i = 0; i < KEYS.length; i++) {
    var k = KEYS[i];
    if (input.pressed(k)) { log.info("seen: pressed " + k + (input.down(k) ? " (held)" : "")); }
    if (input.released(k)) { log.info("seen: released " + k); }
  }
  for (var j = 0; j < BUTTONS.length; j++) {
    var b = BUTTONS[j];
    if (input.mouse_pressed(b)) { log.info("seen: button down " + b); }
    if (input.mouse_released(b)) { log.info("seen: button up " + b); }
  }
  var m = input.mouse();
  if (m.x !== mx || m.y !== my) {
    mx = m.x; my = m.y;
    log.info("seen: mouse " + Math.floor(mx) + " " + Math.floor(my));
  }
  var s = engine.screen();
  if (s.width !== sw || s.height !== sh) {
    sw = s.width; sh = s.height;
    log.info("seen: screen " + sw + " " + sh);
  }
  var w = input.wheel();
  if (w.y !== 0) { log.info("seen: wheel " + Math.floor(w.y)); }

  if (input.pressed("space")) {
    boxes.push(entity.create({position: {x: mx / 100, y: 0, z: my / 100}}));
  }
  var last = boxes[boxes.length - 1];
  if (last) {
    var dx = 0, dz = 0;
    if (input.down("left")) { dx = dx - 1; }
    if (input.down("right")) { dx = dx + 1; }
    if (input.down("up")) { dz = dz - 1; }
    if (input.down("down")) { dz = dz + 1; }
    lift = lift + w.y;
    if (dx !== 0 || dz !== 0 || w.y !== 0) {
      var e = entity.get(last);
      if (e) {
        entity.update(last, {position: {x: e.position.x + dx, y: lift, z: e.position.z + dz}});
      }
    }
  }
  if (input.mouse_pressed("left") && boxes[0]) {
    entity.update(boxes[0], {color: {r: mx / 1000, g: my / 1000, b: 0.5}});
  }
}
