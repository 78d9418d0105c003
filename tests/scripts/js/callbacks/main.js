// Ids come back at once and work in the same tick; on_created fires on a
// later tick with the right id and err; an error in one callback does not
// stop the next one nor update().
var ticks = 0;
var a = 0, b = 0, c = 0;

function init() {
  a = entity.create({mesh: "sphere", position: {x: 1, y: 2, z: 3}}, function (id, err) {
    log.info("cb-a", id === a, err);
  });
  b = entity.create({mesh: "teapot"}, function (id, err) {
    log.info("cb-b", id === b, err);
  });
  c = entity.create({}, function (id, err) {
    throw new Error("callback failed for " + (id === c));
  });
  entity.update(a, {scale: {x: 2, y: 2, z: 2}});
  log.info("ids", typeof a, a > 0, a !== b, b !== c, a === Math.floor(a));
  log.info("same-tick", JSON.stringify(entity.get(a)));
}

function update(dt) {
  ticks++;
  log.info("ticks=" + ticks, "count=" + entity.count());
}
