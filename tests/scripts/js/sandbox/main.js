// What a script can reach: nothing beyond the API and the standard built-ins.
// Each tick from 2 on tries one way out; each must fail with an error.
var ticks = 0;
var names = ["Duktape", "print", "alert", "module", "exports", "load", "readFile", "process", "os", "io",
             "fs", "dofile", "loadfile", "XMLHttpRequest", "fetch", "importScripts"];

function init() {
  var open = [];
  for (var i = 0; i < names.length; i++) {
    if (typeof globalThis[names[i]] !== "undefined") open.push(names[i]);
  }
  log.info("reachable:", open.length ? open.join(",") : "none");
  var g = new Function("return this")();
  log.info("via Function:", typeof g.Duktape, typeof g.module);
  var all = Object.getOwnPropertyNames(globalThis).sort();
  for (var k = 0; k < all.length; k += 10) log.info("globals:", all.slice(k, k + 10).join(","));
}

function update(dt) {
  ticks++;
  log.info("ticks=" + ticks);
  if (ticks === 2) require("fs");
  if (ticks === 3) Duktape.modSearch("fs");
  if (ticks === 4) readFile("/etc/passwd");
  if (ticks === 5) eval("Duktape.env");
  if (ticks === 6) (new Function("return Duktape"))().act();
}
