// A syntax error: the engine must keep running frames.
function init() {
  var x = = 1;
}
