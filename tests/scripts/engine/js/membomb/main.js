// Memory without bound: the cap refuses it as a script error.
function update(dt) {
  var a = [], s = "xxxxxxxxxxxxxxxx";
  for (var i = 0; i < 1e9; i++) { a.push(s + i); if (s.length < 65536) { s = s + s; } }
}
