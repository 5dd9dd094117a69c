"use strict";
(function () {
  const app = document.getElementById("app");
  const mid = app.dataset.meeting;
  const api = "/api/meetings/" + mid;
  let rows = [], pending = null, refreshTimer = null;

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
          ["col-state", p.state_label + (p.on_leave && p.state !== "leave" ? "（曾请假）" : "")],
          ["col-time", p.time], ["col-method", method]]) {
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
    baodaoText(document.getElementById("window"), s.meeting.window);
    scheduleRoster();
  }, baodaoConn);
  loadRoster();
})();
