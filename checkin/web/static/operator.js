"use strict";
(function () {
  const app = document.getElementById("app");
  const mid = app.dataset.meeting;
  const api = "/api/meetings/" + mid;
  let rows = [], pending = null, refreshTimer = null, auditTimer = null;

  async function call(path, body) {
    const r = await fetch(api + path, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": baodaoCsrf()},
      body: JSON.stringify(body || {}),
    });
    const data = await r.json().catch(() => ({}));
    if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); }
    if (data.error === "password_change_required") { location.href = "/password?next=" + encodeURIComponent(location.pathname); }
    if (!r.ok) throw new Error(data.message || ("错误 " + r.status));
    return data;
  }
  async function loadRoster() {
    const r = await fetch(api + "/roster", {credentials: "same-origin"});
    if (r.ok) { rows = await r.json(); draw(); }
  }
  function scheduleRoster() { clearTimeout(refreshTimer); refreshTimer = setTimeout(loadRoster, 50); }

  const ACTIONS = {
    checkin: {label: "补签", title: "手动补签到", path: "/checkin", reason: true},
    undo: {label: "撤销", title: "撤销签到", path: "/undo", reason: true},
    leave: {label: "请假", title: "登记请假", path: "/leave", reason: true},
    unleave: {label: "取消请假", title: "取消请假", path: "/leave", reason: false, extra: {on_leave: false}},
    depart: {label: "退场", title: "中途退场", path: "/departure", reason: false},
    back: {label: "返回", title: "退场后返回", path: "/return", reason: false},
  };
  function actionsFor(p) {
    if (p.state === "left") return ["back", "undo"];
    if (p.state === "present" || p.state === "late") return ["depart", "undo"];
    return p.on_leave ? ["checkin", "unleave"] : ["checkin", "leave"];
  }
  function draw() {
    const q = document.getElementById("search").value.trim();
    const f = document.getElementById("filter").value;
    const tbody = document.getElementById("roster");
    const shown = rows.filter((p) => (!q || p.name.includes(q) || p.number.startsWith(q)) &&
      (!f || p.state === f || (f === "present" && p.state === "late")));
    tbody.replaceChildren(...shown.map((p) => {
      const tr = document.createElement("tr");
      tr.dataset.number = p.number; tr.dataset.state = p.state;
      const method = p.method_label + (p.reason ? "（" + p.reason + "）" : "");
      for (const [cls, text] of [["", p.number], ["col-name", p.name], ["", p.unit], ["", p.role_label],
          ["col-state", (p.state === "absent" && !started() ? "未到" : p.state_label) + (p.on_leave && p.state !== "leave" ? "（曾请假）" : "")],
          ["col-time", p.time], ["col-method", method], ["col-reasons", reasonsOf(p)]]) {
        const td = document.createElement("td"); if (cls) td.className = cls; td.textContent = text; tr.append(td);
      }
      const td = document.createElement("td");
      for (const a of actionsFor(p)) {
        const b = document.createElement("button");
        b.type = "button"; b.className = "act act-" + a; b.textContent = ACTIONS[a].label;
        b.onclick = () => start(a, p);
        td.append(b);
      }
      tr.append(td);
      return tr;
    }));
  }
  function started() {
    return !app.dataset.starts || Date.now() >= new Date(app.dataset.starts).getTime();
  }
  function reasonsOf(p) {
    const out = [];
    if (p.on_leave && p.leave_reason) out.push("请假：" + p.leave_reason);
    if (undone[p.deputy_id]) out.push("撤销：" + undone[p.deputy_id]);
    return out.join("；");
  }
  const WINDOW = {not_open: "未开始", open: "进行中", closed: "已结束"};
  const AUDIT = {"window.open": "开启签到", "window.close": "结束签到", "leave.register": "登记请假",
    "leave.cancel": "取消请假", "checkin.manual": "手动补签到", "checkin.face": "刷脸签到", "checkin.undo": "撤销签到",
    "departure": "中途退场", "return": "退场返回", "roster.add": "加入名单", "roster.remove": "移出名单",
    "meeting.create": "创建会议", "meeting.attach": "编入会次", "meeting.detach": "移出会次"};
  let undone = {};
  function when(iso) {
    return new Date(iso).toLocaleString("zh-CN", {timeZone: app.dataset.tz || undefined, hour12: false});
  }
  async function loadAudit() {
    const r = await fetch(api + "/audit", {credentials: "same-origin"});
    if (!r.ok) return;
    const events = await r.json();
    undone = {};
    for (const e of events.slice().reverse()) {
      if (e.action === "checkin.undo" && e.detail) undone[e.deputy_id] = e.detail.reason || "";
      if (e.action.startsWith("checkin.") && e.action !== "checkin.undo") delete undone[e.deputy_id];
    }
    const byId = Object.fromEntries(rows.map((p) => [p.deputy_id, p.name]));
    document.querySelector("#audit tbody").replaceChildren(...events.slice(0, 200).map((e) => {
      const tr = document.createElement("tr");
      const d = e.detail || {};
      const note = d.reason || d.title || (d.at ? "" : "") || "";
      for (const text of [when(e.at), e.actor || "", AUDIT[e.action] || e.action,
          e.deputy_id ? (byId[e.deputy_id] || "") + (e.number ? "（" + e.number + "）" : "") : "", note]) {
        const td = document.createElement("td"); td.textContent = text; tr.append(td);
      }
      return tr;
    }));
    draw();
  }
  document.getElementById("audit-refresh").onclick = loadAudit;
  function start(a, p) {
    pending = {a, p};
    document.getElementById("action").hidden = false;
    document.getElementById("action-title").textContent = ACTIONS[a].title + "：" + p.name + "（" + p.number + "）";
    const reason = document.getElementById("reason");
    reason.value = ""; reason.placeholder = ACTIONS[a].reason ? "必填" : "选填";
    document.getElementById("action-error").textContent = "";
    reason.focus();
  }
  async function confirm() {
    if (!pending) return;
    const {a, p} = pending, spec = ACTIONS[a];
    const reason = document.getElementById("reason").value.trim();
    if (spec.reason && !reason) { document.getElementById("action-error").textContent = "请填写原因"; return; }
    try {
      const s = await call(spec.path, Object.assign({deputy_id: p.deputy_id, reason}, spec.extra || {}));
      baodaoCounts(s);
      document.getElementById("message").textContent = spec.title + "成功：" + p.name;
      document.getElementById("action").hidden = true; pending = null;
      loadRoster();
    } catch (e) { document.getElementById("action-error").textContent = e.message; }
  }
  document.getElementById("confirm").onclick = confirm;
  document.getElementById("reason").addEventListener("keydown", (e) => { if (e.key === "Enter") confirm(); });
  document.getElementById("cancel").onclick = () => { document.getElementById("action").hidden = true; pending = null; };
  document.getElementById("search").addEventListener("input", draw);
  document.getElementById("filter").addEventListener("change", draw);
  for (const [id, path] of [["open-window", "/open"], ["close-window", "/close"]]) {
    document.getElementById(id).onclick = async () => {
      try { baodaoCounts(await call(path)); } catch (e) { document.getElementById("message").textContent = e.message; }
    };
  }
  BaodaoLive(mid, Number(app.dataset.heartbeat), (s) => {
    baodaoCounts(s);
    baodaoText(document.getElementById("window"), WINDOW[s.meeting.window] || s.meeting.window);
    baodaoText(document.getElementById("absent-label"), started() ? "缺席" : "未到");
    scheduleRoster();
    clearTimeout(auditTimer); auditTimer = setTimeout(loadAudit, 300);
  }, baodaoConn);
  loadRoster().then(loadAudit);
})();
