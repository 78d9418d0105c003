exports.double = function (x) { return x * 2; };
