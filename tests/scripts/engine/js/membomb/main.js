// Memory without bound: the cap refuses it as a script error.
function update(dt) {
  var a = [];
  for (var i = 0; i < 1e9; i++) { a.push(new Array(1024).join("x") + i); }
}
