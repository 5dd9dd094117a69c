// Is a face likely in front of the camera, and how good is this frame? The browser's
// FaceDetector (Shape Detection API) where it exists, else a cheap motion check: a person
// walking up moves, an empty hall does not. Like kiosk_client/presence.py, the score is the
// face size times log(1 + sharpness), so the offline buffer keeps the best frame per interval.

const THUMB_W = 96;
const MOTION_LEVEL = 6;        // mean absolute grey-level change that counts as motion
const MOTION_HOLD_MS = 3000;   // after motion, a face is "likely" for this long

export class Presence {
  constructor(minFacePx = 40) {
    this.minFacePx = minFacePx;
    this.detector = null;
    this.mode = "motion";
    this.thumb = document.createElement("canvas");
    this.ctx = this.thumb.getContext("2d", { willReadFrequently: true });
    this.previous = null;
    this.lastMotion = -Infinity;
    if ("FaceDetector" in window) {
      try {
        this.detector = new window.FaceDetector({ fastMode: true, maxDetectedFaces: 5 });
        this.mode = "face-detector";
      } catch { this.detector = null; }
    }
  }

  // Check a frame (a canvas at sending size): {likely, boxes, score}.
  async check(canvas, now = performance.now()) {
    const grey = this._grey(canvas);
    const sharp = sharpness(grey, this.thumb.width, this.thumb.height);
    if (this.detector) {
      try {
        const faces = await this.detector.detect(canvas);
        const boxes = faces.map((f) => {
          const b = f.boundingBox;
          return [Math.round(b.top), Math.round(b.right), Math.round(b.bottom), Math.round(b.left)];
        }).filter(([t, r, b, l]) => Math.min(b - t, r - l) >= this.minFacePx);
        const side = Math.max(0, ...boxes.map(([t, r, b, l]) => Math.min(b - t, r - l)));
        return { likely: boxes.length > 0, boxes, score: boxes.length ? side * Math.log1p(sharp) : 0 };
      } catch {
        this.detector = null; // unsupported on this platform after all: fall back to motion
        this.mode = "motion";
      }
    }
    if (this.previous && this.previous.length === grey.length) {
      let diff = 0;
      for (let i = 0; i < grey.length; i++) diff += Math.abs(grey[i] - this.previous[i]);
      if (diff / grey.length >= MOTION_LEVEL) this.lastMotion = now;
    }
    this.previous = grey;
    const likely = now - this.lastMotion <= MOTION_HOLD_MS;
    return { likely, boxes: [], score: likely ? Math.log1p(sharp) : 0 };
  }

  _grey(canvas) {
    const w = THUMB_W;
    const h = Math.max(1, Math.round(canvas.height * w / canvas.width));
    if (this.thumb.width !== w || this.thumb.height !== h) { this.thumb.width = w; this.thumb.height = h; }
    this.ctx.drawImage(canvas, 0, 0, w, h);
    const rgba = this.ctx.getImageData(0, 0, w, h).data;
    const grey = new Float32Array(w * h);
    for (let i = 0, j = 0; j < grey.length; i += 4, j++) {
      grey[j] = 0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2];
    }
    return grey;
  }
}

// Variance of the 4-neighbour Laplacian: low for blurred or flat images.
export function sharpness(grey, w, h) {
  let sum = 0, sum2 = 0, n = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const v = grey[i - 1] + grey[i + 1] + grey[i - w] + grey[i + w] - 4 * grey[i];
      sum += v; sum2 += v * v; n++;
    }
  }
  if (!n) return 0;
  const mean = sum / n;
  return sum2 / n - mean * mean;
}

// Keeps the best-scoring item per time window (kiosk_client.app.BestFrameSelector).
export class BestFrameSelector {
  constructor(windowMs) { this.windowMs = windowMs; this.best = null; this.started = 0; }
  get pending() { return this.best !== null; }
  // Consider an item; returns the best of the previous window when that window closed.
  offer(item, score, now) {
    const out = this.flush(now);
    if (this.best === null) { this.started = now; this.best = { score, item }; }
    else if (score > this.best.score) this.best = { score, item };
    return out;
  }
  // The best item if its window is over (or always, when now is undefined).
  flush(now) {
    if (this.best === null || (now !== undefined && now - this.started < this.windowMs)) return null;
    const item = this.best.item;
    this.best = null;
    return item;
  }
}
