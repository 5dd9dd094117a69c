// The kiosk wire protocol (checkin/protocol.py), as the browser speaks it: a JSON hello,
// binary frames (4-byte big-endian header length, JSON header, JPEG), acks and pings.

export const PROTOCOL_VERSION = 1;
export const KIOSK_PATH = "/ws/kiosk";

// Close codes the server uses (protocol.CloseCode). These are not retried as they are.
export const CLOSE = {
  BAD_TOKEN: 4401,
  FORBIDDEN: 4403,
  UNKNOWN_MEETING: 4404,
  HELLO_TIMEOUT: 4408,
  REPLACED: 4409,
  PROTOCOL: 4400,
};
export const FATAL_CLOSES = new Set([CLOSE.BAD_TOKEN, CLOSE.FORBIDDEN, CLOSE.UNKNOWN_MEETING, CLOSE.REPLACED]);

export function kioskUrl(loc) {
  return (loc.protocol === "https:" ? "wss://" : "ws://") + loc.host + KIOSK_PATH;
}

export function hello(token, meetingId) {
  return JSON.stringify({ type: "hello", token, meeting_id: meetingId, client: "browser-kiosk/1" });
}

export function ack(checkinId) {
  return JSON.stringify({ type: "ack", checkin_id: checkinId });
}

export const PING = JSON.stringify({ type: "ping" });

// protocol.encode_frame: one binary message of header length, JSON header and JPEG bytes.
export function encodeFrame(header, jpeg) {
  const raw = new TextEncoder().encode(JSON.stringify({
    frame_id: header.frame_id,
    captured_at: header.captured_at,
    buffered: Boolean(header.buffered),
  }));
  const bytes = new Uint8Array(jpeg);
  const out = new Uint8Array(4 + raw.length + bytes.length);
  new DataView(out.buffer).setUint32(0, raw.length, false);
  out.set(raw, 4);
  out.set(bytes, 4 + raw.length);
  return out.buffer;
}

// Frame ids: milliseconds since the epoch, strictly increasing (kiosk_client.app.FrameIds).
export class FrameIds {
  constructor(clock = Date.now) { this.clock = clock; this.last = 0; }
  next() { this.last = Math.max(this.last + 1, Math.floor(this.clock())); return this.last; }
  seen(id) { this.last = Math.max(this.last, id); }
}

// Exponential backoff with full jitter (kiosk_client.transport.Backoff): delay n is uniform
// in [base, min(cap, base·2ⁿ)], so the kiosks of one township do not reconnect in lockstep.
export class Backoff {
  constructor(base = 0.5, cap = 30, rng = Math.random) {
    this.base = base; this.cap = cap; this.rng = rng; this.attempt = 0;
  }
  next() {
    const high = Math.min(this.cap, this.base * 2 ** this.attempt);
    this.attempt += 1;
    return this.base + (high - this.base) * this.rng();
  }
  reset() { this.attempt = 0; }
}
