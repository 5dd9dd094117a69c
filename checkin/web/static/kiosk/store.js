// What the kiosk keeps on the device: its pairing (localStorage) and the offline frames
// (IndexedDB, bounded, oldest dropped first), like kiosk_client/queue.py's disk queue.

const PREFIX = "baodao.kiosk.";

export const settings = {
  get(name) {
    const raw = localStorage.getItem(PREFIX + name);
    if (raw === null) return null;
    try { return JSON.parse(raw); } catch { return null; }
  },
  set(name, value) { localStorage.setItem(PREFIX + name, JSON.stringify(value)); },
  remove(name) { localStorage.removeItem(PREFIX + name); },
};

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

// Offline frames of one meeting: {frame_id, meeting_id, captured_at, jpeg: ArrayBuffer}.
// `ids` mirrors the stored frame ids in memory (oldest first), so the sender never waits on
// the database to know what is queued.
export class FrameQueue {
  constructor(meetingId, maxItems = 1000) {
    this.meetingId = meetingId;
    this.maxItems = maxItems;
    this.db = null;
    this.memory = null;
    this.ids = [];
  }

  async open() {
    const req = indexedDB.open("baodao-kiosk", 1);
    req.onupgradeneeded = () => {
      const store = req.result.createObjectStore("frames", { keyPath: "frame_id" });
      store.createIndex("meeting", "meeting_id");
    };
    this.db = await request(req);
    const tx = this.db.transaction("frames", "readonly");
    const keys = await request(tx.objectStore("frames").index("meeting").getAllKeys(this.meetingId));
    this.ids = keys.map(Number).sort((a, b) => a - b);
    return this;
  }

  get length() { return this.ids.length; }

  // Without IndexedDB: the same queue in memory (lost on reload, bounded the same way).
  memoryOnly() {
    this.db = null;
    this.memory = new Map();
    this.ids = [];
  }

  // Store a frame; returns the ids dropped to stay within maxItems (the oldest).
  async put(frame) {
    const dropped = [];
    while (this.ids.length >= this.maxItems) dropped.push(this.ids.shift());
    this.ids.push(frame.frame_id);
    this.ids.sort((a, b) => a - b);
    if (this.memory) {
      for (const id of dropped) this.memory.delete(id);
      this.memory.set(frame.frame_id, { ...frame, meeting_id: this.meetingId });
      return dropped;
    }
    const tx = this.db.transaction("frames", "readwrite");
    const store = tx.objectStore("frames");
    for (const id of dropped) store.delete(id);
    store.put({ ...frame, meeting_id: this.meetingId });
    await done(tx);
    return dropped;
  }

  async load(frameId) {
    if (this.memory) return this.memory.get(frameId) || null;
    const tx = this.db.transaction("frames", "readonly");
    return (await request(tx.objectStore("frames").get(frameId))) || null;
  }

  // Forget a frame the server answered (sync on the mirror, so it is never sent twice).
  remove(frameId) {
    const i = this.ids.indexOf(frameId);
    if (i < 0) return false;
    this.ids.splice(i, 1);
    if (this.memory) return this.memory.delete(frameId);
    const tx = this.db.transaction("frames", "readwrite");
    tx.objectStore("frames").delete(frameId);
    return true;
  }
}
