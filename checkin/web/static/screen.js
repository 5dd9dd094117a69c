"use strict";
(function () {
  const app = document.getElementById("app");
  function li(text, cls) {
    const el = document.createElement("li");
    if (cls) el.className = cls;
    el.textContent = text;
    return el;
  }
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
    const missing = document.getElementById("not-arrived");
    missing.replaceChildren(...s.not_arrived.map((p) => li(p.name)));
    baodaoText(document.getElementById("not-arrived-count"), "（" + s.not_arrived.length + "人）");
  }
  BaodaoLive(app.dataset.meeting, Number(app.dataset.heartbeat), render, baodaoConn);
})();
