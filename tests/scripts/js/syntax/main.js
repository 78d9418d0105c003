// A syntax error on line 4: loading fails, the runtime stays usable.
var ticks = 0;
function update(dt) {
  ticks = ticks + ;
}
