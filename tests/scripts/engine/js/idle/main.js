// Does nothing: the baseline for the slow script.
function update(dt) {}
