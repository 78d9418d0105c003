exports.fromA = "a"; var b = require("./b"); exports.sawB = b.fromB;
