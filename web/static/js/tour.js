// Tours (轮巡): cycle a list of sources (a group, a saved layout's sources) through one tile,
// or page by page through the whole layout, every `interval` seconds until stopped.
export const MIN_INTERVAL = 2;

export class Tour {
  constructor(wall, ids, { target = "tile", interval = 10, index = wall.selected, name = "" } = {}) {
    this.wall = wall;
    this.ids = ids.filter(Boolean);
    this.target = target;
    this.interval = Math.max(MIN_INTERVAL, Number(interval) || 10);
    this.index = index;
    this.name = name;
    this.position = 0;
    this.timer = null;
    this.shown = [];  // ids in the order they were put up (scripts, tests)
  }

  get running() { return this.timer !== null; }

  start() {
    if (!this.ids.length) return this;
    this.stop();
    this._step();
    this.timer = setInterval(() => this._step(), this.interval * 1000);
    return this;
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  _step() {
    if (this.target === "layout") {
      const size = this.wall.layout;
      const page = Array.from({ length: Math.min(size, this.ids.length) },
        (_, i) => this.ids[(this.position + i) % this.ids.length]);
      this.position = (this.position + size) % this.ids.length;
      this.wall.apply({ layout: size, sources: page }, { undoable: false });
      this.shown.push(...page);
    } else {
      const id = this.ids[this.position % this.ids.length];
      this.position = (this.position + 1) % this.ids.length;
      this.wall.playAt(Math.min(this.index, this.wall.layout - 1), id);
      this.shown.push(id);
    }
    if (this.shown.length > 1000) this.shown.splice(0, this.shown.length - 1000);
  }
}
