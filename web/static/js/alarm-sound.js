// A sound per alert kind, made with WebAudio (no files to load): fire a fast high
// two-tone, smoke a mid double beep, flood a low long tone, a manual alarm a rising siren.
// On by default for roles that act on alarms (operator, admin), mutable per user; every
// sound played is also announced as a `fh:alarm-sound` event (kind), for scripts and tests.

const PATTERNS = {
  fire: [[1320, 0.12], [880, 0.12], [1320, 0.12], [880, 0.12], [1320, 0.12], [880, 0.12]],
  smoke: [[760, 0.18], [0, 0.1], [760, 0.18]],
  flood: [[330, 0.7]],
  manual: [[600, 0.1], [800, 0.1], [1000, 0.1], [1200, 0.3]],
};

export class AlarmSound {
  constructor(api) {
    this.key = "fh.sound." + api.subject;
    const stored = localStorage.getItem(this.key);
    this.enabled = stored === null ? api.can("operate") : stored === "1";
    this.ctx = null;
    this.played = [];  // kinds, newest last (bounded)
    // browsers start audio only after a user gesture: unlock on the first one
    const unlock = () => {
      this._context();
      document.body.classList.remove("sound-blocked");
      document.removeEventListener("pointerdown", unlock);
    };
    document.addEventListener("pointerdown", unlock);
  }

  setEnabled(on) {
    this.enabled = on;
    localStorage.setItem(this.key, on ? "1" : "0");
  }

  _context() {
    if (!this.ctx) {
      try { this.ctx = new AudioContext(); } catch (err) { return null; }
    }
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    return this.ctx;
  }

  play(kind) {
    if (!this.enabled) return false;
    const ctx = this._context();
    if (!ctx) return false;
    let at = ctx.currentTime + 0.02;
    const gain = ctx.createGain();
    gain.gain.value = 0.25;
    gain.connect(ctx.destination);
    for (const [freq, dur] of PATTERNS[kind] || PATTERNS.manual) {
      if (freq > 0) {
        const osc = ctx.createOscillator();
        osc.type = kind === "flood" ? "sine" : "square";
        osc.frequency.setValueAtTime(freq, at);
        osc.connect(gain);
        osc.start(at);
        osc.stop(at + dur);
      }
      at += dur;
    }
    // a page reloaded with a stored session had no gesture yet: say how to enable the sound
    document.body.classList.toggle("sound-blocked", ctx.state !== "running");
    this.played.push(kind);
    if (this.played.length > 50) this.played.shift();
    document.dispatchEvent(new CustomEvent("fh:alarm-sound", { detail: { kind } }));
    return true;
  }
}
