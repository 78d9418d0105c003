exports.name = "pack";
