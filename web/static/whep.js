// Minimal WHEP client (RFC 9725 shape): recvonly video, non-trickle offer/answer.
"use strict";
class WhepSession {
  constructor(sourceId, token) { this.sourceId = sourceId; this.token = token; this.pc = null; this.location = null; }
  async start(video) {
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.ontrack = (ev) => { video.srcObject = ev.streams[0] || new MediaStream([ev.track]); };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 1000);  // host candidates are enough on a LAN
    });
    const headers = { "Content-Type": "application/sdp" };
    if (this.token) headers.Authorization = "Bearer " + this.token;
    const resp = await fetch("/whep/" + encodeURIComponent(this.sourceId),
                             { method: "POST", headers, body: pc.localDescription.sdp });
    if (resp.status !== 201) {
      let msg = resp.status + "";
      try { msg = (await resp.json()).error.message; } catch (e) { /* not JSON */ }
      pc.close();
      throw new Error(msg);
    }
    this.location = resp.headers.get("Location");
    await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
    return pc;
  }
  async stop() {
    if (this.pc) { this.pc.close(); this.pc = null; }
    if (this.location) {
      const headers = this.token ? { Authorization: "Bearer " + this.token } : {};
      fetch(this.location, { method: "DELETE", headers }).catch(() => {});
      this.location = null;
    }
  }
}
window.WhepSession = WhepSession;
