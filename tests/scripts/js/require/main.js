// CommonJS require inside the game directory (docs/scripting.md §9).
// A setter on Object.prototype must not see the runtime's module objects.
Object.defineProperty(Object.prototype, "exports", {
  set: function (v) { log.info("setter saw", typeof v); }, configurable: true
});
var util = require("lib/util");
var again = require("./lib/util.js");
var pack = require("lib/pack");
var data = require("lib/data.json");
var umd = require("lib/umd");
delete Object.prototype.exports;

function init() {
  log.info("require", util.double(21), util === again, typeof require.cache, typeof module);
  log.info("package", pack.name, pack.where);
  log.info("json", data.answer, "umd", umd.version);
  log.info("cycle", require("lib/cycle/a").sawB, require("lib/cycle/b").sawA);
}

var ticks = 0;
function update() {
  ticks++;
  if (ticks === 1) require("../outside");
  if (ticks === 2) require("/etc/passwd");
  if (ticks === 3) require("lib/pack/../../../outside");
  if (ticks === 4) require("lib/missing");
  if (ticks === 5) require("lib/broken");
  if (ticks === 6) require("lib/bad.json");
  if (ticks === 7) require("lib/throws");
  if (ticks === 8) require("lib/throws"); // not cached: runs, and throws, again
  if (ticks === 9) require(5);
  if (ticks === 10) require("lib\\util");
  if (ticks === 11) require("lib/util\u0000x");
}
