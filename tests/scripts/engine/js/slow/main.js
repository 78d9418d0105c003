// 30 ms of work per tick on the script worker; the main thread must keep its rate.
function update(dt) {
  var t = Date.now();
  while (Date.now() - t < 30) {}
}
