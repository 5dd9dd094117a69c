// Live status over WebSocket: snapshot, in-order changes (resync on a gap), heartbeats,
// reconnect with backoff after a network blip.
"use strict";
window.BaodaoLive = function (meetingId, heartbeatMs, onStatus, onConn) {
  let ws = null, lastSeq = -1, backoff = 500, watchdog = null, stopped = false;
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    "/ws/meetings/" + meetingId + "/live";

  function arm() {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => { if (ws) ws.close(); }, heartbeatMs * 2 + 5000);
  }
  function resync() { if (ws && ws.readyState === 1) ws.send(JSON.stringify({type: "resync"})); }

  function connect() {
    onConn("connecting");
    ws = new WebSocket(url);
    ws.onopen = () => { backoff = 500; arm(); };
    ws.onmessage = (ev) => {
      arm();
      const msg = JSON.parse(ev.data);
      if (msg.topic === "snapshot") {
        lastSeq = msg.seq; onConn("live"); onStatus(msg.payload, msg);
      } else if (msg.topic === "status") {
        if (lastSeq >= 0 && msg.seq !== lastSeq + 1) { resync(); return; }
        lastSeq = msg.seq; onStatus(msg.payload, msg);
      } else if (msg.topic === "heartbeat") {
        if (msg.seq !== lastSeq) resync();
      }
    };
    ws.onclose = (ev) => {
      clearTimeout(watchdog);
      ws = null; lastSeq = -1;
      if (ev.code === 4401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
      if (stopped) return;
      onConn("offline");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
    ws.onerror = () => { if (ws) ws.close(); };
  }
  connect();
  return { resync, stop() { stopped = true; if (ws) ws.close(); } };
};

// The page's CSRF token: cookie-authenticated writes must send it as X-CSRF-Token.
window.baodaoCsrf = function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
};

window.baodaoText = function (el, value) {
  if (el && el.textContent !== String(value)) el.textContent = value;
};

window.baodaoCounts = function (s) {
  for (const k of ["expected", "present", "on_leave", "absent", "late", "left_early",
                   "nonvoting_expected", "nonvoting_present", "required"]) {
    baodaoText(document.getElementById(k), s[k]);
  }
  const state = document.getElementById("quorum-state");
  state.dataset.met = s.quorum_met ? "true" : "false";
  baodaoText(state, s.quorum_met ? "已达到法定人数" : "未达到法定人数");
  baodaoText(document.getElementById("announcement"), s.announcement);
};

window.baodaoConn = function (state) {
  const el = document.getElementById("conn");
  el.dataset.state = state;
  el.textContent = {connecting: "连接中…", live: "实时", offline: "网络中断，正在重连…"}[state];
};

// 退出登录 (every page with the top bar)
window.baodaoLogout = async function (e) {
  if (e) e.preventDefault();
  await fetch("/api/auth/logout", {method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": baodaoCsrf()}});
  location.href = "/login";
};
