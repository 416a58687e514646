// WHEP client (RFC 9725 shape): receive-only H.264 video, and Opus audio when asked
// (`{ audio: true }`: the tile that is unmuted), non-trickle offer/answer.

export class WhepError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

const GATHER_TIMEOUT_MS = 1000;

export class WhepSession {
  constructor(sourceId, api, { audio = false } = {}) {
    this.sourceId = sourceId;
    this.api = api;
    this.audio = audio;
    this.pc = null;
    this.location = null;
    this.closed = false;
  }

  /** Negotiate; resolves with the RTCPeerConnection once the answer is applied. */
  async start(onTrack) {
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle" });
    this.pc = pc;
    const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
    preferH264(transceiver);
    // audio only for a listened tile: a muted wall costs the hub no AAC→Opus transcoders
    if (this.audio) pc.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    pc.ontrack = (ev) => { stream.addTrack(ev.track); onTrack(stream); };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    if (this.closed) throw new WhepError(0, "closed");
    let resp;
    try {
      resp = await fetch("/whep/" + encodeURIComponent(this.sourceId), {
        method: "POST", headers: this.api.headers({ "Content-Type": "application/sdp" }),
        body: pc.localDescription.sdp, cache: "no-store",
      });
    } catch (err) {
      throw new WhepError(0, err.message);
    }
    if (resp.status !== 201) {
      const text = (await resp.text().catch(() => "")).trim();
      let message = text;
      try { message = JSON.parse(text).error.message || text; } catch { /* not JSON */ }
      throw new WhepError(resp.status, message.slice(0, 200) || String(resp.status),
                          +resp.headers.get("Retry-After") || 0);
    }
    this.location = resp.headers.get("Location");
    const answer = await resp.text();
    if (this.closed) { this.stop(); throw new WhepError(0, "closed"); }
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    return pc;
  }

  /** Close the peer connection and DELETE the session (fire and forget). */
  stop() {
    this.closed = true;
    if (this.pc) { this.pc.close(); this.pc = null; }
    if (this.location) {
      fetch(this.location, { method: "DELETE", keepalive: true }).catch(() => {});
      this.location = null;
    }
  }
}

function preferH264(transceiver) {
  if (!transceiver.setCodecPreferences || !RTCRtpReceiver.getCapabilities) return;
  const codecs = RTCRtpReceiver.getCapabilities("video")?.codecs || [];
  const h264 = codecs.filter((c) => c.mimeType.toLowerCase() === "video/h264");
  const rtx = codecs.filter((c) => c.mimeType.toLowerCase() === "video/rtx");
  if (h264.length) transceiver.setCodecPreferences([...h264, ...rtx]);
}

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);  // host candidates suffice on a LAN
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
    });
  });
}
