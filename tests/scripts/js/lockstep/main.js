// In lockstep the script sees game time, never the wall clock.
function update(dt) {
  log.info("clock", Date.now(), new Date().getTime(), performance.now(), engine.time(), engine.frame(), engine.dt() === dt);
}
