// Runaway code and resource bombs, one per tick as chosen by the cvar
// "case", so one runtime shows the watchdog and the memory cap stop each and
// that the next tick runs.
var ticks = 0;

function recurse(n) {
  return recurse(n + 1) + 1;
}

function native_recurse() {
  [1].forEach(native_recurse);
}

function update(dt) {
  ticks++;
  log.info("ticks=" + ticks);
  var c = cvar.get("player_name");
  cvar.set("player_name", "none");
  if (c === "loop") for (;;) {}
  if (c === "swallow") for (;;) { try { for (;;) {} } catch (e) {} }
  if (c === "finally") for (;;) { try { for (;;) {} } finally { continue; } }
  if (c === "array_bomb") { var a = []; for (;;) a.push(new Uint8Array(4096)); }
  if (c === "string_bomb") { var s = "x"; for (;;) s = s + s; }
  if (c === "recursion") recurse(0);
  if (c === "native_recursion") native_recurse();
  if (c === "alloc4") log.info("big", "x".repeat(4 << 20).length);
  if (c === "getter_loop") entity.create({get position() { for (;;) {} }});
  if (c === "tostring_loop") throw {toString: function () { for (;;) {} }};
  if (c === "compiler_recursion") eval(new Array(5000).join("(") + "1" + new Array(5000).join(")"));
}
