// The browser kiosk (/kiosk): pairing, the meeting choice, then the camera, the kiosk
// protocol and the big messages — the same protocol and words as the Python kiosk
// (kiosk_client/app.py). No framework, no build step.

import { Backoff, FATAL_CLOSES, CLOSE, FrameIds, PING, ack, encodeFrame, hello, kioskUrl } from "./protocol.js";
import { FACE_TONE, IDLE, OFFLINE, PRIORITY, UPLOADING, checkinMessage, hhmm, pickMessage } from "./messages.js";
import { BestFrameSelector, Presence } from "./presence.js";
import { FrameQueue, settings } from "./store.js";

// The protocol's size and rate, as kiosk_client.app.KioskConfig.
const CONFIG = {
  fps: 5,                 // frames captured and checked per second
  width: 640,             // frames are scaled to this width before checking and sending
  jpegQuality: 0.8,
  idleIntervalMs: 2000,   // without a likely face, still send one frame this often
  bufferRate: 2,          // offline: best frames stored per second
  queueMax: 1000,         // offline frames kept on the device (oldest dropped)
  liveTimeoutMs: 5000,    // a live frame without result after this is forgotten
  uploadWindow: 4,        // buffered frames in flight at once
  uploadTimeoutMs: 30000, // a buffered frame without result after this is re-sent
  backoffBase: 0.5,
  backoffCap: 30,
  pingEveryMs: 10000,
  silentMs: 25000,        // no message from the server for this long: the socket is dead
  marksMs: 1500,          // face boxes of a result stay this long (or until the next result)
};

const $ = (id) => document.getElementById(id);
const views = ["insecure", "pair", "meetings", "live", "fatal"];

function show(view) {
  for (const v of views) $("view-" + v).hidden = v !== view;
  document.body.dataset.view = view;
}

// ---- pairing and meetings ------------------------------------------------------------------

function tokenFromFragment() {
  const m = /(?:^#|&)pair=([^&]+)/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, "", location.pathname); // the token leaves the address bar
  return decodeURIComponent(m[1]).trim();
}

async function fetchMeetings(token) {
  const r = await fetch("/api/kiosk/meetings", {
    headers: { Authorization: "Bearer " + token },
    cache: "no-store",
  });
  if (r.status === 401) throw Object.assign(new Error("终端令牌无效或已吊销"), { unauthorized: true });
  if (!r.ok) throw new Error(`服务器错误（${r.status}）`);
  return r.json();
}

async function showPairing(error = "") {
  stopLive();
  show("pair");
  $("pair-error").textContent = error;
  $("pair-token").value = "";
  $("pair-token").focus();
}

async function pair(token) {
  $("pair-error").textContent = "";
  try {
    await showMeetings(token, await fetchMeetings(token));
    settings.set("token", token);
  } catch (err) {
    show("pair");
    $("pair-error").textContent = err.unauthorized
      ? "终端令牌无效或已吊销，请核对后重试" : "无法连接服务器：" + err.message;
  }
}

async function showMeetings(token, data = null, notice = "") {
  stopLive();
  show("meetings");
  $("meetings-error").textContent = notice;
  const list = $("meeting-list");
  list.replaceChildren();
  if (!data) {
    try { data = await fetchMeetings(token); } catch (err) {
      if (err.unauthorized) { settings.remove("token"); return showPairing("终端令牌无效或已吊销，请重新配对"); }
      $("meetings-error").textContent = "无法连接服务器：" + err.message;
      return;
    }
  }
  settings.set("exit", { mode: data.exit, sha256: data.exit_pin_sha256 });
  $("kiosk-name").textContent = `终端：${data.kiosk}` + (data.body ? ` · ${data.body}` : "");
  if (!data.meetings.length) {
    $("meetings-error").textContent = data.body
      ? "本机构暂无可报到的会议" : "本终端尚未绑定会议机构，请管理员在控制台绑定";
  }
  for (const m of data.meetings) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.className = "meeting";
    b.dataset.meetingId = String(m.id);
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = m.title;
    const when = document.createElement("span");
    when.className = "when";
    const starts = new Date(m.starts_at);
    when.textContent = `${starts.toLocaleDateString("zh-CN")} ${hhmm(starts)} · ` +
      (m.window_open ? "报到中" : m.state === "draft" ? "未开启报到" : "不在报到时间内");
    b.append(title, when);
    b.addEventListener("click", () => {
      settings.set("meeting", { id: m.id, title: m.title });
      goFullscreen();
      unlockAudio();
      startLive(token, { id: m.id, title: m.title });
    });
    li.append(b);
    list.append(li);
  }
}

// ---- full screen, wake lock, sound -------------------------------------------------------

function goFullscreen() {
  const el = document.documentElement;
  if (!document.fullscreenElement && el.requestFullscreen) el.requestFullscreen().catch(() => {});
}

let wakeLock = null;
async function keepAwake() {
  if (!("wakeLock" in navigator) || document.visibilityState !== "visible") return;
  try {
    wakeLock = await navigator.wakeLock.request("screen");
    document.body.dataset.wakeLock = "on";
    wakeLock.addEventListener("release", () => { document.body.dataset.wakeLock = "off"; });
  } catch { document.body.dataset.wakeLock = "unavailable"; }
}

let audio = null;
function unlockAudio() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  if (!audio) audio = new Ctx();
  if (audio.state === "suspended") audio.resume().catch(() => {});
}

// Two short rising tones, made on the spot: no sound file to download or cache.
function beep() {
  if (!audio) return;
  const t = audio.currentTime;
  for (const [freq, start, len] of [[880, 0, 0.12], [1320, 0.14, 0.2]]) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t + start);
    gain.gain.exponentialRampToValueAtTime(0.4, t + start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + start + len);
    osc.connect(gain).connect(audio.destination);
    osc.start(t + start);
    osc.stop(t + start + len + 0.02);
  }
  document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
}

// ---- the live kiosk ----------------------------------------------------------------------

let live = null; // the running kiosk, or null

class LiveKiosk {
  constructor(token, meeting) {
    this.token = token;
    this.meeting = meeting;
    this.ids = new FrameIds();
    this.presence = new Presence();
    this.selector = new BestFrameSelector(1000 / CONFIG.bufferRate);
    this.backoff = new Backoff(CONFIG.backoffBase, CONFIG.backoffCap);
    this.queue = new FrameQueue(meeting.id, CONFIG.queueMax);
    this.ws = null;
    this.online = false;
    this.everOffline = false;
    this.liveInflight = null;       // {id, at}: newest-frame-only, never more than one
    this.qInflight = new Map();     // buffered frame id → sent at
    this.lastLiveSent = -Infinity;
    this.lastHeard = 0;
    this.seenCheckins = new Set();
    this.uploaded = 0;
    this.message = null;
    this.messageUntil = 0;
    this.marks = [];
    this.marksAt = -Infinity;
    this.localBoxes = [];
    this.frameSize = [CONFIG.width, 360];
    this.running = false;
    this.timers = [];
    this.frame = document.createElement("canvas");
    this.frameCtx = this.frame.getContext("2d", { willReadFrequently: true });
  }

  async start() {
    this.running = true;
    $("meeting-title").textContent = this.meeting.title;
    this.setNet("connecting");
    try {
      await this.queue.open();
    } catch (err) { // no IndexedDB (a private window): offline frames live in memory only
      console.warn("IndexedDB unavailable, offline frames kept in memory", err);
      this.queue.memoryOnly();
    }
    this.showQueued();
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 720 } },
        audio: false,
      });
    } catch (err) {
      this.stop();
      return fatal("无法打开摄像头", cameraHelp(err), "重试", () => startLive(this.token, this.meeting));
    }
    if (!this.running) return this.stopStream();
    const video = $("video");
    video.srcObject = this.stream;
    await video.play().catch(() => {});
    keepAwake();
    this.connect();
    this.captureLoop();
    this.timers.push(setInterval(() => this.heartbeat(), CONFIG.pingEveryMs));
    const draw = () => { if (this.running) { this.draw(); requestAnimationFrame(draw); } };
    requestAnimationFrame(draw);
  }

  stop() {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    clearTimeout(this.reconnectTimer);
    if (this.ws) { const ws = this.ws; this.ws = null; ws.onclose = null; ws.close(1000, "kiosk exit"); }
    this.online = false;
    this.stopStream();
  }

  stopStream() {
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    $("video").srcObject = null;
  }

  // ---- connection ----
  connect() {
    if (!this.running) return;
    const ws = new WebSocket(kioskUrl(location));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    const helloTimer = setTimeout(() => { if (this.ws === ws && !this.online) this.drop(ws, "no welcome"); }, 15000);
    ws.onopen = () => ws.send(hello(this.token, this.meeting.id));
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastHeard = performance.now();
      if (typeof ev.data !== "string") return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this.onMessage(msg);
    };
    ws.onclose = (ev) => {
      clearTimeout(helloTimer);
      if (this.ws !== ws) return;
      this.ws = null;
      if (FATAL_CLOSES.has(ev.code)) { this.wentOffline(); return this.refused(ev.code, ev.reason); }
      this.drop(ws, `closed ${ev.code}`);
    };
  }

  // The connection is gone (or presumed dead): offline now, reconnect after a backoff.
  drop(ws, why) {
    if (ws) { ws.onclose = null; ws.onmessage = null; try { ws.close(); } catch { /* gone */ } }
    if (this.ws === ws) this.ws = null;
    this.wentOffline(why);
    if (!this.running) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), this.backoff.next() * 1000);
  }

  wentOffline() {
    this.online = false;
    this.everOffline = true;
    this.liveInflight = null;
    this.qInflight.clear();
    this.setNet("offline");
  }

  heartbeat() {
    if (!this.ws || !this.online) return;
    if (performance.now() - this.lastHeard > CONFIG.silentMs) return this.drop(this.ws, "silent");
    this.ws.send(PING);
  }

  refused(code, reason) {
    this.stop();
    const token = this.token;
    if (code === CLOSE.BAD_TOKEN) {
      settings.remove("token");
      settings.remove("meeting");
      return showPairing("终端令牌无效或已吊销，请重新配对");
    }
    if (code === CLOSE.UNKNOWN_MEETING) {
      settings.remove("meeting");
      return showMeetings(token, null, "会议不存在或已结束报到，请重新选择");
    }
    if (code === CLOSE.REPLACED) {
      return fatal("本终端已在另一台设备上连接", "同一终端令牌只能在一台设备上使用。", "重新连接",
        () => startLive(token, this.meeting));
    }
    settings.remove("meeting");
    return fatal("服务器拒绝了本终端", reason || "本终端不能为该会议报到（未绑定该会议的机构）",
      "返回会议列表", () => showMeetings(token));
  }

  onMessage(msg) {
    if (msg.type === "welcome") return this.onWelcome(msg);
    if (msg.type === "result") return this.onResult(msg);
    if (msg.type === "checkin") return this.onCheckin(msg);
    if (msg.type === "error") return this.onError(msg);
  }

  async onWelcome(msg) {
    this.backoff.reset();
    this.online = true;
    this.meeting.title = msg.meeting.title;
    $("meeting-title").textContent = msg.meeting.title;
    this.setNet("online");
    const best = this.selector.flush(); // frames captured offline stay offline frames
    if (best) await this.buffer(best);
    this.pump();
  }

  settle(frameId) {
    if (this.liveInflight && this.liveInflight.id === frameId) { this.liveInflight = null; return false; }
    const wasQueued = this.qInflight.delete(frameId);
    if (wasQueued || this.queue.ids.includes(frameId)) { this.queue.remove(frameId); return true; }
    return false;
  }

  onResult(result) {
    const buffered = this.settle(result.frame_id);
    if (buffered) { this.uploaded += 1; this.showQueued(); }
    else { // live frames answered, and those the server dropped as stale (0 when newest-only)
      const body = document.body.dataset;
      body.liveResults = String(Number(body.liveResults || 0) + 1);
      body.dropped = String(Number(body.dropped || 0) + (result.dropped || 0));
    }
    if (!buffered) { // the screen speaks to whoever stands there now, not to the past
      // Names only where the result gives one (a settled track's results carry none): the
      // page never guesses who a box is.
      this.marks = result.faces.map((f) => ({
        box: f.box, tone: FACE_TONE[f.state] || "info", name: f.person ? f.person.name : "",
      }));
      this.marksAt = performance.now();
      this.say(pickMessage(result.faces));
    }
    this.pump();
  }

  onCheckin(ev) {
    if (this.ws) this.ws.send(ack(ev.checkin_id));
    if (this.seenCheckins.has(ev.checkin_id)) return; // re-sent after a reconnect
    this.seenCheckins.add(ev.checkin_id);
    const log = $("checkins");
    const li = document.createElement("li");
    li.dataset.checkinId = String(ev.checkin_id);
    li.dataset.delayed = String(Boolean(ev.delayed));
    li.textContent = `${ev.person.name} ${hhmm(ev.checked_in_at)}${ev.delayed ? "（离线补传）" : ""}`;
    log.prepend(li);
    while (log.children.length > 5) log.lastChild.remove();
    if (!ev.delayed) {
      this.say(checkinMessage(ev.person, ev.checked_in_at), true);
      beep();
    }
  }

  onError(err) {
    if (err.frame_id === null || err.frame_id === undefined) return;
    if (err.code === "bad_frame" || err.code === "frame_too_large") this.settle(err.frame_id);
    else if (this.liveInflight && this.liveInflight.id === err.frame_id) this.liveInflight = null;
  }

  // Upload the offline queue first, oldest first, a few frames in flight (like the Python kiosk).
  async pump() {
    if (this.pumping || !this.online) return;
    this.pumping = true;
    const ws = this.ws;
    try {
      const now = performance.now();
      for (const [id, at] of this.qInflight) if (now - at > CONFIG.uploadTimeoutMs) this.qInflight.delete(id);
      while (this.online && this.ws === ws && this.qInflight.size < CONFIG.uploadWindow) {
        const next = this.queue.ids.find((id) => !this.qInflight.has(id));
        if (next === undefined) break;
        this.qInflight.set(next, now);
        const rec = await this.queue.load(next);
        if (this.ws !== ws || !this.online) break;
        if (!rec) { this.queue.remove(next); this.qInflight.delete(next); continue; }
        ws.send(encodeFrame({ frame_id: rec.frame_id, captured_at: rec.captured_at, buffered: true }, rec.jpeg));
      }
    } finally {
      this.pumping = false;
    }
  }

  async buffer(item) {
    await this.queue.put({ frame_id: item.frame_id, captured_at: item.captured_at, jpeg: await item.jpeg });
    this.showQueued();
  }

  // ---- capture ----
  async captureLoop() {
    const period = 1000 / CONFIG.fps;
    let nextAt = performance.now();
    while (this.running) {
      try { await this.capture(); } catch (err) { console.error("capture failed", err); }
      nextAt += period;
      const delay = nextAt - performance.now();
      if (delay < 0) nextAt = performance.now(); // fell behind: do not try to catch up
      await new Promise((r) => setTimeout(r, Math.max(0, delay)));
    }
  }

  async capture() {
    const video = $("video");
    if (!video.videoWidth || video.readyState < 2) return;
    const w = Math.min(CONFIG.width, video.videoWidth);
    const h = Math.max(1, Math.round(video.videoHeight * w / video.videoWidth));
    if (this.frame.width !== w || this.frame.height !== h) { this.frame.width = w; this.frame.height = h; }
    this.frameCtx.drawImage(video, 0, 0, w, h);
    this.frameSize = [w, h];
    const capturedAt = new Date().toISOString();
    const now = performance.now();
    const seen = await this.presence.check(this.frame, now);
    this.localBoxes = seen.boxes;
    if (this.liveInflight && now - this.liveInflight.at > CONFIG.liveTimeoutMs) this.liveInflight = null;
    if (this.online) {
      const due = seen.likely || now - this.lastLiveSent >= CONFIG.idleIntervalMs;
      if (due && !this.liveInflight && this.queue.length === 0 && this.qInflight.size === 0) {
        const id = this.ids.next();
        this.liveInflight = { id, at: now };
        this.lastLiveSent = now;
        const jpeg = await toJpeg(this.frame);
        if (this.online && this.ws) this.ws.send(encodeFrame({ frame_id: id, captured_at: capturedAt }, jpeg));
        else this.liveInflight = null;
      }
      this.pump();
      return;
    }
    // Offline: keep the best likely-face frame per interval, with its capture time.
    let out;
    if (seen.likely) {
      const item = { frame_id: this.ids.next(), captured_at: capturedAt, jpeg: toJpeg(this.frame) };
      out = this.selector.offer(item, seen.score, now);
    } else {
      out = this.selector.flush(now);
    }
    if (out) await this.buffer(out);
  }

  // ---- screen ----
  say(message, force = false) {
    if (!message) return;
    const now = performance.now();
    const current = now < this.messageUntil ? this.message : null;
    if (force || !current || PRIORITY[message.tone] >= PRIORITY[current.tone]) {
      this.message = message;
      this.messageUntil = now + message.holdS * 1000;
    }
  }

  setNet(state) {
    const net = $("net");
    net.dataset.state = state;
    net.textContent = { online: "在线", offline: "离线", connecting: "连接中…" }[state];
    $("offline-banner").hidden = !(state === "offline" || (state === "connecting" && this.everOffline));
  }

  showQueued() {
    const n = this.queue.length;
    const q = $("queued");
    q.dataset.count = String(n);
    q.dataset.uploaded = String(this.uploaded);
    q.textContent = n ? `离线记录 ${n} 条` : "";
  }

  draw() {
    const now = performance.now();
    let message = now < this.messageUntil ? this.message : null;
    if (!message) message = this.online && this.queue.length ? UPLOADING : IDLE;
    const box = $("message");
    if (box.dataset.tone !== message.tone) box.dataset.tone = message.tone;
    if ($("msg-title").textContent !== message.title) $("msg-title").textContent = message.title;
    if ($("msg-detail").textContent !== message.detail) $("msg-detail").textContent = message.detail;
    const clock = hhmm(new Date());
    if ($("clock").textContent !== clock) $("clock").textContent = clock;
    const marks = now - this.marksAt < CONFIG.marksMs ? this.marks
      : this.localBoxes.map((b) => ({ box: b, tone: "info", name: "" }));
    drawMarks($("overlay"), $("video"), this.frameSize, marks);
  }
}

function toJpeg(canvas) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => {
      if (!blob) return reject(new Error("JPEG encoding failed"));
      blob.arrayBuffer().then(resolve, reject);
    }, "image/jpeg", CONFIG.jpegQuality);
  });
}

const TONE_COLOURS = { ok: "#2ecc71", info: "#4ea3ff", warn: "#f5b342", stop: "#ff5b5b" };

// Face boxes (top, right, bottom, left in the sent frame's pixels) over the mirrored video,
// placed as the video is fitted (cover in landscape, contain in portrait).
function drawMarks(canvas, video, [fw, fh], marks) {
  const rect = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const cw = Math.round(rect.width * dpr), ch = Math.round(rect.height * dpr);
  if (canvas.width !== cw || canvas.height !== ch) { canvas.width = cw; canvas.height = ch; }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, cw, ch);
  const vw = video.videoWidth, vh = video.videoHeight;
  if (!vw || !vh || !marks.length) { canvas.dataset.boxes = canvas.dataset.named = "0"; return; }
  const fit = getComputedStyle(video).objectFit === "contain" ? Math.min : Math.max;
  const scale = fit(cw / vw, ch / vh) * (vw / fw);
  const ox = (cw - fw * scale) / 2, oy = (ch - fh * scale) / 2;
  ctx.lineWidth = Math.max(4, 5 * dpr);
  ctx.font = `bold ${Math.round(Math.max(18, Math.min(cw, ch) * 0.04))}px "Noto Sans CJK SC", sans-serif`;
  for (const { box: [t, r, b, l], tone, name } of marks) {
    const x = cw - (ox + r * scale); // mirrored, like the picture
    const y = oy + t * scale, w = (r - l) * scale, h = (b - t) * scale;
    ctx.strokeStyle = ctx.fillStyle = TONE_COLOURS[tone] || TONE_COLOURS.info;
    ctx.strokeRect(x, y, w, h);
    if (name) ctx.fillText(name, x, y > ch * 0.15 ? y - 10 : y + h + ctx.lineWidth + parseInt(ctx.font.split(" ")[1], 10));
  }
  canvas.dataset.boxes = String(marks.length);
  canvas.dataset.named = String(marks.filter((m) => m.name).length);
}

function cameraHelp(err) {
  const name = err && err.name;
  if (name === "NotAllowedError") return "摄像头权限被拒绝：请在浏览器的网站设置中允许本页使用摄像头，然后重试。";
  if (name === "NotFoundError") return "本设备上没有找到摄像头。";
  if (name === "NotReadableError") return "摄像头正被其他程序使用，请关闭其他程序后重试。";
  return `打开摄像头失败（${name || err}）。`;
}

function fatal(title, detail, action, onAction) {
  show("fatal");
  $("fatal-title").textContent = title;
  $("fatal-detail").textContent = detail;
  const button = $("fatal-action");
  button.textContent = action;
  button.onclick = onAction;
}

function startLive(token, meeting) {
  stopLive();
  show("live");
  live = new LiveKiosk(token, meeting);
  window.baodaoKiosk = live; // for whoever debugs a kiosk from the browser's console
  live.start();
}

function stopLive() {
  if (live) live.stop();
  live = null;
  if (wakeLock) { wakeLock.release().catch(() => {}); wakeLock = null; }
}

// ---- exit with a PIN -----------------------------------------------------------------------

async function sha256hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function askExit() {
  const exit = settings.get("exit") || { mode: "token" };
  $("exit-hint").textContent = exit.mode === "pin" ? "请输入退出密码（PIN）" : "未设置退出密码：请输入本终端的令牌";
  $("exit-pin").value = "";
  $("exit-pin").inputMode = exit.mode === "pin" ? "numeric" : "text";
  $("exit-error").textContent = "";
  $("exit-dialog").showModal();
  $("exit-pin").focus();
}

async function confirmExit(ev) {
  ev.preventDefault();
  const exit = settings.get("exit") || { mode: "token" };
  const typed = $("exit-pin").value.trim();
  const token = settings.get("token");
  const ok = exit.mode === "pin"
    ? (await sha256hex("baodao-kiosk-exit:" + typed)) === exit.sha256
    : typed !== "" && typed === token;
  if (!ok) { $("exit-error").textContent = "密码不正确"; return; }
  $("exit-dialog").close();
  settings.remove("meeting");
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  showMeetings(token);
}

// ---- start ---------------------------------------------------------------------------------

function boot() {
  $("pair-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    unlockAudio();
    const token = $("pair-token").value.trim();
    if (token) pair(token);
  });
  $("unpair").addEventListener("click", () => {
    settings.remove("token");
    settings.remove("meeting");
    settings.remove("exit");
    showPairing();
  });
  $("exit").addEventListener("click", askExit);
  $("exit-form").addEventListener("submit", confirmExit);
  $("exit-cancel").addEventListener("click", () => $("exit-dialog").close());
  document.addEventListener("visibilitychange", () => { if (live && document.visibilityState === "visible") keepAwake(); });
  document.addEventListener("pointerdown", unlockAudio, { passive: true });

  if (!window.isSecureContext || !navigator.mediaDevices) {
    $("insecure-url").textContent = "https://" + location.host + "/kiosk";
    show("insecure");
    return;
  }
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/kiosk-sw.js", { scope: "/kiosk" }).catch((err) => {
      console.warn("service worker not registered", err);
    });
  }
  const fromLink = tokenFromFragment();
  if (fromLink) {
    settings.remove("meeting");
    return pair(fromLink);
  }
  const token = settings.get("token");
  if (!token) return showPairing();
  const meeting = settings.get("meeting");
  if (meeting) return startLive(token, meeting); // also after a reload during an outage
  return showMeetings(token);
}

boot();
