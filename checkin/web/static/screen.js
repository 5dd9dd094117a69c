"use strict";
(function () {
  const app = document.getElementById("app");
  function li(text, cls) {
    const el = document.createElement("li");
    if (cls) el.className = cls;
    el.textContent = text;
    return el;
  }
  const tz = app.dataset.tz || "Asia/Shanghai";
  const starts = app.dataset.starts ? new Date(app.dataset.starts) : null;
  const clock = new Intl.DateTimeFormat("zh-CN", {timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"});
  function tick() {
    baodaoText(document.getElementById("clock"), clock.format(new Date()));
    // before the start nobody is absent yet: 未到, not a red 缺席
    const started = !starts || Date.now() >= starts.getTime();
    document.getElementById("absent-box").className = "count " + (started ? "bad" : "waiting");
    baodaoText(document.getElementById("absent-label"), started ? "缺席" : "未到");
  }
  tick();
  setInterval(tick, 1000);
  // 尚未报到 pages inside its panel (a county roster never pushes the announcement off screen)
  let page = 0;
  function turnPage(advance) {
    const view = document.getElementById("names-view");
    const first = view.querySelector("li");
    if (first) {  // whole rows per page: the view's height snapped to a multiple of a row
      view.style.height = ""; view.style.flex = "";
      const row = first.offsetHeight + (parseFloat(getComputedStyle(view.firstElementChild).rowGap) || 0);
      const rows = Math.max(1, Math.floor((view.clientHeight + 1) / row));
      view.style.flex = "none"; view.style.height = rows * row + "px";
    }
    const pages = Math.max(1, Math.ceil(view.scrollHeight / Math.max(view.clientHeight, 1) - 0.01));
    if (advance) page = (page + 1) % pages;
    if (page >= pages) page = 0;
    view.scrollTop = page * view.clientHeight;
    baodaoText(document.getElementById("page-no"), pages > 1 ? `第 ${page + 1}/${pages} 页` : "");
  }
  setInterval(() => turnPage(true), 8000);
  function render(s) {
    baodaoCounts(s);
    const total = Math.max(s.expected, 1);
    document.getElementById("bar-fill").style.width = Math.min(100, 100 * s.present / total) + "%";
    document.getElementById("bar-line").style.left = Math.min(100, 100 * s.required / total) + "%";
    baodaoText(document.getElementById("required-label"), "法定人数 " + s.required);
    const arrivals = document.getElementById("arrivals");
    arrivals.replaceChildren(...s.latest_arrivals.map((a) => {
      const el = document.createElement("li");
      const name = document.createElement("span"); name.className = "name"; name.textContent = a.name;
      const unit = document.createElement("span"); unit.className = "unit";
      unit.textContent = (a.role_label !== "代表" ? "［" + a.role_label + "］" : "") + a.unit;
      const time = document.createElement("span"); time.className = "time"; time.textContent = a.time;
      el.append(name, unit, time);
      return el;
    }));
    app.classList.toggle("dense", s.expected > 150);  // a county roster: smaller names, more rows
    const missing = document.getElementById("not-arrived");
    const groups = new Map();  // 代表团 → names (a county plenary: counted per 代表团)
    for (const p of s.not_arrived) {
      const g = p.delegation || "";
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(p.name);
    }
    const items = [];
    const grouped = groups.size > 1 || !groups.has("");
    for (const [g, names] of [...groups].sort((a, b) => a[0].localeCompare(b[0], "zh-CN", {numeric: true}))) {
      if (grouped) items.push(li(`${g || "其他"}（${names.length}）`, "group"));
      for (const n of names) items.push(li(n));
    }
    missing.replaceChildren(...items);
    baodaoText(document.getElementById("not-arrived-count"), "（" + s.not_arrived.length + "人）");
    const departed = s.departed || [];
    document.getElementById("departed").replaceChildren(...departed.map((p) => li(p.name)));
    document.getElementById("departed-head").hidden = departed.length === 0;
    baodaoText(document.getElementById("departed-count"), "（" + departed.length + "人）");
    turnPage(false);
  }
  BaodaoLive(app.dataset.meeting, Number(app.dataset.heartbeat), render, baodaoConn);
})();
