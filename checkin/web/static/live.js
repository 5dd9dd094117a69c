// Live status over WebSocket: snapshot, in-order changes (resync on a gap), heartbeats,
// reconnect with backoff after a network blip.
"use strict";
// A `delta` message applied to the status (checkin/meetings/delta.py: apply_delta).
window.baodaoApplyDelta = function (status, d) {
  const out = Object.assign({}, status, d.counts);
  out.meeting = d.meeting;
  out.latest_arrivals = d.latest_arrivals;
  if (d.deputy_id !== null && d.deputy_id !== undefined) {
    const ln = d.line;
    const put = (people, keep) => {
      const rest = people.filter((p) => p.deputy_id !== d.deputy_id);
      if (keep) {
        let i = rest.length;
        while (i > 0 && rest[i - 1].number > ln.number) i -= 1;
        rest.splice(i, 0, {deputy_id: ln.deputy_id, number: ln.number, name: ln.name, unit: ln.unit});
      }
      return rest;
    };
    out.not_arrived = put(status.not_arrived, ln && ln.state === "absent");
    out.departed = put(status.departed, ln && ln.state === "left" && ln.role === "deputy");
  }
  return out;
};
const applyDelta = window.baodaoApplyDelta;
window.BaodaoLive = function (meetingId, heartbeatMs, onStatus, onConn) {
  let ws = null, lastSeq = -1, backoff = 500, watchdog = null, stopped = false, current = null;
  // Several servers (data-live-hosts="h1:8000,h2:8000") are tried in turn; by default the
  // page's own host (a reverse proxy in front of several serve processes).
  const hosts = (document.getElementById("app")?.dataset.liveHosts || "").split(",")
    .map((h) => h.trim()).filter(Boolean);
  if (!hosts.length) hosts.push(location.host);
  let hostIndex = 0;
  function url() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + hosts[hostIndex % hosts.length] +
      "/ws/meetings/" + meetingId + "/live";
  }

  function arm() {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => { if (ws) ws.close(); }, heartbeatMs * 2 + 5000);
  }
  function resync() { if (ws && ws.readyState === 1) ws.send(JSON.stringify({type: "resync"})); }

  function connect() {
    onConn("connecting");
    ws = new WebSocket(url());
    ws.onopen = () => { backoff = 500; arm(); };
    ws.onmessage = (ev) => {
      arm();
      const msg = JSON.parse(ev.data);
      if (msg.topic === "snapshot") {
        lastSeq = msg.seq; current = msg.payload; onConn("live"); onStatus(current, msg);
      } else if (msg.topic === "status" || msg.topic === "delta") {
        if (lastSeq < 0) return;  // before the snapshot
        if (msg.seq !== lastSeq + 1) { lastSeq = -1; resync(); return; }
        lastSeq = msg.seq;
        current = msg.topic === "status" ? msg.payload : applyDelta(current, msg.payload);
        onStatus(current, msg);
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
      hostIndex += 1;  // the next server first; back off once every server was tried
      setTimeout(connect, hostIndex % hosts.length ? 200 : backoff);
      if (hostIndex % hosts.length === 0) backoff = Math.min(backoff * 2, 5000);
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
