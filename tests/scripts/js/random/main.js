// Math.random is keel's splitmix64, seeded by desc->seed: the test compares
// these draws with its own C implementation, bit for bit.
function init() {
  var out = [];
  for (var i = 0; i < 8; i++) out.push(Math.random().toString());
  log.info("random", out.join(" "));
}
