var a = require("./a"); exports.fromB = "b"; exports.sawA = a.fromA;
