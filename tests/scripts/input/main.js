// Input probe (test_script_input.c): each tick logs what input.* and
// engine.screen() say, in a text the Lua twin (main.lua) prints
// identically; the cvar "case" makes a tick misuse the API instead.
var KEYS = ["a", "space", "left", "shift", "f12", "grave"];
var BUTTONS = ["left", "right", "middle"];

function flags(down, pressed, released) {
  return (down ? "D" : "-") + (pressed ? "P" : "-") + (released ? "R" : "-");
}

function update(dt) {
  var c = cvar.get("case");
  if (c === "unknown_key") { input.down("foo"); } //@unknown_key
  if (c === "key_type") { input.pressed(7); } //@key_type
  if (c === "unknown_button") { input.mouse_down("back"); } //@unknown_button
  if (c === "button_type") { input.mouse_released(null); } //@button_type
  if (c === "key_nul") { input.down("a\u0000b"); } //@key_nul
  if (c === "button_nul") { input.mouse_pressed("left\u0000x"); } //@button_nul
  var parts = [];
  for (var i = 0; i < KEYS.length; i++) {
    var k = KEYS[i];
    parts.push(k + "=" + flags(input.down(k), input.pressed(k), input.released(k)));
  }
  for (var j = 0; j < BUTTONS.length; j++) {
    var b = BUTTONS[j];
    parts.push("mouse_" + b + "=" + flags(input.mouse_down(b), input.mouse_pressed(b), input.mouse_released(b)));
  }
  var m = input.mouse(), w = input.wheel(), s = engine.screen();
  parts.push("mouse=" + m.x + "," + m.y);
  parts.push("wheel=" + w.x + "," + w.y);
  parts.push("screen=" + s.width + "," + s.height);
  log.info("input " + parts.join(" "));
}
