// A runtime error in every update: logged with file:line, counted, next tick runs.
var n = 0;
function update(dt) {
  n = n + 1;
  var t = null;
  return t.field;
}
