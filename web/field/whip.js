// Minimal WHIP publisher (RFC 9725): non-trickle offer, H.264 preferred, DELETE on stop,
// reconnect with backoff when the link fails, link statistics once a second.
const STATS_INTERVAL = 1000;

export class Publisher {
  constructor(url, token, stream, { onState = () => {}, onStats = () => {}, onError = () => {} } = {}) {
    Object.assign(this, { url, token, stream, onState, onStats, onError });
    this.pc = null;
    this.resource = null;
    this.stopped = false;
    this.retry = 1000;
    this.timer = null;
    this.prev = null;
  }

  async start() {
    this.stopped = false;
    await this.connect();
    this.timer = setInterval(() => this.stats(), STATS_INTERVAL);
  }

  async connect() {
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    this.pc = pc;
    for (const track of this.stream.getVideoTracks()) {
      const tr = pc.addTransceiver(track, { direction: "sendonly", streams: [this.stream] });
      const caps = RTCRtpSender.getCapabilities?.("video")?.codecs || [];
      const h264 = caps.filter((c) => c.mimeType === "video/H264"
        && /packetization-mode=1/.test(c.sdpFmtpLine || "")
        && /profile-level-id=42e01f/.test(c.sdpFmtpLine || ""));
      if (h264.length && tr.setCodecPreferences) {
        tr.setCodecPreferences([...h264, ...caps.filter((c) => !h264.includes(c))]);
      }
    }
    for (const track of this.stream.getAudioTracks()) {
      pc.addTransceiver(track, { direction: "sendonly", streams: [this.stream] });  // Opus
    }
    pc.addEventListener("connectionstatechange", () => this.changed(pc));
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 2000);  // send what we have
    });
    const resp = await fetch(this.url, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", "Authorization": `Bearer ${this.token}` },
      body: pc.localDescription.sdp,
    });
    const body = await resp.text();
    if (resp.status !== 201) {
      pc.close();
      let message = body.trim();
      try { message = JSON.parse(message).error.message || message; } catch { /* not JSON */ }
      throw new Error(`WHIP ${resp.status}: ${message.slice(0, 160)}`);
    }
    this.resource = new URL(resp.headers.get("Location"), new URL(this.url, location.href)).href;
    await pc.setRemoteDescription({ type: "answer", sdp: body });
  }

  changed(pc) {
    if (pc !== this.pc) return;
    const state = pc.connectionState;
    if (state === "connected") { this.retry = 1000; this.onState("connected"); }
    if ((state === "failed" || state === "disconnected") && !this.stopped) {
      this.onState("reconnecting");
      this.reconnect();
    }
  }

  async reconnect() {
    const old = this.pc;
    this.pc = null;
    await this.hangUp(old);
    while (!this.stopped) {
      await new Promise((r) => setTimeout(r, this.retry));
      this.retry = Math.min(this.retry * 2, 30000);
      try { await this.connect(); return; } catch (err) { this.onError(err); }
    }
  }

  async hangUp(pc) {
    const resource = this.resource;
    this.resource = null;
    if (resource) {
      try {
        await fetch(resource, { method: "DELETE", headers: { "Authorization": `Bearer ${this.token}` } });
      } catch { /* the server ends it on its own */ }
    }
    pc?.close();
  }

  async stats() {
    if (!this.pc) return;
    const report = await this.pc.getStats();
    const out = {};
    report.forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video") {
        if (this.prev) out.bitrate = (s.bytesSent - this.prev.bytes) * 8000 / (s.timestamp - this.prev.t);
        this.prev = { bytes: s.bytesSent, t: s.timestamp };
        out.fps = s.framesPerSecond;
        out.framesSent = s.framesSent;
      } else if (s.type === "remote-inbound-rtp" && s.kind === "video") {
        out.loss = s.fractionLost;
        if (s.roundTripTime != null) out.rtt = s.roundTripTime;
      } else if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime != null) {
        out.rtt ??= s.currentRoundTripTime;
      }
    });
    this.onStats(out);
  }

  async stop() {
    this.stopped = true;
    clearInterval(this.timer);
    const pc = this.pc;
    this.pc = null;
    await this.hangUp(pc);
    this.onState("stopped");
  }
}
