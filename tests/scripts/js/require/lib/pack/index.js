// require("lib/pack") loads lib/pack/index.js; "./" is relative to it.
var inner = require("./inner");
module.exports = {name: inner.name, where: __filename + " in " + __dirname};
