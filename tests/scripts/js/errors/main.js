// Runtime errors at known lines, one per tick, so test_script_js.c can check
// each is logged with file:line and the stack, and that the next tick runs.
var ticks = 0;

function at(n) {
  return ticks === n;
}

function helper() {
  throw new RangeError("deep in helper");
}

function nested() {
  helper();
}

function update(dt) {
  ticks++;
  log.info("ticks=" + ticks);
  if (at(2)) undefined_function();
  if (at(3)) null.x = 1;
  if (at(4)) throw new Error("plain error");
  if (at(5)) throw "a string";
  if (at(6)) nested();
  if (at(7)) entity.create({positon: {x: 1, y: 2, z: 3}});
}
