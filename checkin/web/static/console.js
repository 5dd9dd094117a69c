"use strict";
(function () {
  const root = document.getElementById("console");
  const page = root.dataset.page;
  const bodies = JSON.parse(document.getElementById("bodies-data").textContent);
  const bodyName = Object.fromEntries(bodies.map((b) => [b.id, b.name]));
  const KIND = {congress: "人民代表大会", presidium: "主席团"};
  const STATUS = {seated: "在任", retired: "已离任"};

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  }
  async function api(method, path, body, isForm) {
    const headers = {"X-CSRF-Token": baodaoCsrf()};
    if (body !== undefined && !isForm) headers["Content-Type"] = "application/json";
    const r = await fetch(path, {method, credentials: "same-origin", headers,
      body: body === undefined ? undefined : (isForm ? body : JSON.stringify(body))});
    const data = await r.json().catch(() => ({}));
    if (r.status === 401) location.href = "/login?next=" + encodeURIComponent(location.pathname);
    if (data.error === "password_change_required") location.href = "/password?next=" + encodeURIComponent(location.pathname);
    if (!r.ok) throw new Error(data.message || ("错误 " + r.status));
    return data;
  }
  // "+08:00" for a local "YYYY-MM-DDTHH:MM" in the server's time zone (data-tz).
  function baodaoOffset(local) {
    const tz = root.dataset.tz || "Asia/Shanghai";
    const asUtc = new Date(local.slice(0, 16) + ":00Z");
    const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", {timeZone: tz, hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit"})
      .formatToParts(asUtc).map((x) => [x.type, x.value]));
    const shown = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute);
    const minutes = Math.round((shown - asUtc.getTime()) / 60000);
    const sign = minutes < 0 ? "-" : "+", m = Math.abs(minutes);
    return sign + String(Math.floor(m / 60)).padStart(2, "0") + ":" + String(m % 60).padStart(2, "0");
  }
  function fillBodySelects() {
    document.querySelectorAll("select.body-select").forEach((sel) => {
      const any = sel.dataset.any;
      sel.innerHTML = (any !== undefined ? `<option value="">${esc(any)}</option>` : "") +
        bodies.map((b) => `<option value="${b.id}">${"　".repeat(b.depth)}${esc(b.name)}</option>`).join("");
    });
  }
  function formJson(form) {
    const out = {};
    new FormData(form).forEach((v, k) => { if (typeof v === "string" && v !== "") out[k] = v; });
    return out;
  }
  document.getElementById("logout").addEventListener("click", async (e) => {
    e.preventDefault();
    await fetch("/api/auth/logout", {method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": baodaoCsrf()}});
    location.href = "/login";
  });
  fillBodySelects();

  // --- 代表管理 ----------------------------------------------------------------
  function deputiesPage() {
    let all = [];
    const tbody = document.querySelector("#deputies tbody");
    const dlg = document.getElementById("edit-dialog");
    const ef = document.getElementById("edit-form");
    let current = null;
    async function load() {
      all = await api("GET", "/api/deputies?include_retired=true");
      draw();
    }
    function draw() {
      const q = document.getElementById("q").value.trim();
      const body = document.getElementById("f-body").value;
      const st = document.getElementById("f-status").value;
      const rows = all.filter((d) => (!q || d.name.includes(q) || d.number.startsWith(q)) &&
        (!body || String(d.body_id) === body) && (!st || d.status === st));
      document.getElementById("count").textContent = `共 ${rows.length} 人`;
      tbody.innerHTML = rows.map((d) => `<tr data-number="${esc(d.number)}">
        <td>${esc(d.number)}</td><td>${esc(d.name)}</td><td>${esc(d.gender || "")}</td><td>${esc(d.unit || "")}</td>
        <td>${esc(bodyName[d.body_id] || "—")}</td><td>${STATUS[d.status] || d.status}</td>
        <td>${d.templates ? d.templates + " 张" : '<span class="error">无</span>'}</td>
        <td><button class="act edit">编辑 / 照片</button></td></tr>`).join("");
    }
    ["q", "f-body", "f-status"].forEach((id) => document.getElementById(id).addEventListener("input", draw));
    tbody.addEventListener("click", (e) => {
      const tr = e.target.closest("tr");
      if (!tr || !e.target.classList.contains("edit")) return;
      current = all.find((d) => d.number === tr.dataset.number);
      document.getElementById("edit-title").textContent = `编辑代表 ${current.number} ${current.name}`;
      ef.name.value = current.name; ef.gender.value = current.gender || ""; ef.unit.value = current.unit || "";
      ef.body_id.value = current.body_id || "";
      document.getElementById("photo-results").innerHTML = "";
      document.getElementById("edit-msg").textContent = "";
      document.getElementById("retire-btn").textContent = current.status === "retired" ? "恢复在任" : "离任";
      dlg.showModal();
    });
    document.getElementById("edit-cancel").addEventListener("click", () => dlg.close());
    ef.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = {name: ef.name.value, gender: ef.gender.value || null, unit: ef.unit.value || null};
      if (ef.body_id.value && Number(ef.body_id.value) !== current.body_id) body.body_id = Number(ef.body_id.value);
      try {
        await api("PATCH", "/api/deputies/" + encodeURIComponent(current.number), body);
        document.getElementById("edit-msg").textContent = "已保存"; await load();
      } catch (err) { document.getElementById("edit-msg").textContent = err.message; }
    });
    document.getElementById("retire-btn").addEventListener("click", async () => {
      const to = current.status === "retired" ? "seated" : "retired";
      if (to === "retired" && !confirm(`确认 ${current.name} 离任？离任后不再列入新会议的应到名单。`)) return;
      try {
        current = await api("PATCH", "/api/deputies/" + encodeURIComponent(current.number), {status: to});
        document.getElementById("edit-msg").textContent = to === "retired" ? "已离任" : "已恢复在任"; await load();
      } catch (err) { document.getElementById("edit-msg").textContent = err.message; }
    });
    document.getElementById("face-delete-btn").addEventListener("click", async () => {
      if (!confirm(`确认删除 ${current.name} 的全部人脸数据？删除后无法刷脸报到，出席记录保留。此操作记入审计日志。`)) return;
      try {
        const r = await api("DELETE", "/api/deputies/" + encodeURIComponent(current.number) + "/face");
        document.getElementById("edit-msg").textContent = `已删除 ${r.templates_deleted} 条人脸数据`; await load();
      } catch (err) { document.getElementById("edit-msg").textContent = err.message; }
    });
    document.getElementById("photo-input").addEventListener("change", async (e) => {
      const files = e.target.files;
      if (!files.length) return;
      const out = document.getElementById("photo-results");
      out.innerHTML = "<li>正在检查照片…</li>";
      const fd = new FormData();
      for (const f of files) fd.append("files", f);
      try {
        const r = await api("POST", "/api/deputies/" + encodeURIComponent(current.number) + "/photos", fd, true);
        out.innerHTML = r.photos.map((p) => `<li class="verdict ${p.status}">${esc(p.photo)}：${
          p.status === "enrolled" ? "合格，已录入" + (p.flagged ? "（与其本人其他照片差异较大，请核对）" : "")
          : p.status === "duplicate" ? "此照片已录入过" : esc(p.message || p.reason)}</li>`).join("");
        await load();
      } catch (err) { out.innerHTML = `<li class="verdict failed">${esc(err.message)}</li>`; }
      e.target.value = "";
    });
    document.getElementById("add-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = formJson(e.target);
      body.body_id = Number(body.body_id);
      try {
        await api("POST", "/api/deputies", body);
        document.getElementById("add-msg").textContent = `已新增 ${body.number} ${body.name}，请点「编辑 / 照片」上传照片`;
        e.target.reset(); await load();
      } catch (err) { document.getElementById("add-msg").textContent = err.message; }
    });
    load();
  }

  // --- 批量导入 ----------------------------------------------------------------
  function importPage() {
    const STATE = {queued: "排队中", unpacking: "正在解压照片", running: "正在录入", done: "已完成", failed: "失败"};
    document.getElementById("import-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const err = document.getElementById("import-error");
      err.textContent = "";
      const fd = new FormData(e.target);
      if (!fd.get("body_id")) fd.delete("body_id");
      const photos = fd.get("photos");
      if (photos && !photos.name) fd.delete("photos");
      document.getElementById("import-start").disabled = true;
      try {
        const job = await api("POST", "/api/imports", fd, true);
        document.getElementById("progress-card").hidden = false;
        poll(job.id);
      } catch (ex) {
        err.textContent = ex.message;
        document.getElementById("import-start").disabled = false;
      }
    });
    async function poll(id) {
      let job;
      try { job = await api("GET", "/api/imports/" + id); } catch (ex) { setTimeout(() => poll(id), 1000); return; }
      show(job);
      if (job.state === "done" || job.state === "failed") { document.getElementById("import-start").disabled = false; return; }
      setTimeout(() => poll(id), 500);
    }
    function show(job) {
      const pct = job.total ? Math.round(100 * job.done / job.total) : (job.state === "done" ? 100 : 0);
      document.getElementById("job-state").textContent = STATE[job.state] || job.state;
      document.getElementById("job-state").dataset.state = job.state;
      document.getElementById("progress-fill").style.width = pct + "%";
      document.getElementById("progress-text").textContent =
        `照片 ${job.done} / ${job.total || "?"}（${pct}%）· 代表 ${job.rows_done} / ${job.rows_total}` + (job.error ? " · " + job.error : "");
      if (job.state === "done") {
        const t = job.totals;
        document.getElementById("totals").innerHTML =
          `新录入 <b>${t.deputies_created}</b> 人，更新 <b>${t.deputies_updated}</b> 人，未录入 <b class="${t.deputies_failed ? "error" : ""}">${t.deputies_failed}</b> 人；照片合格 ${t.enrolled_photos} 张，失败 ${t.failed_photos} 张`;
        const link = document.getElementById("report-link");
        link.href = `/api/imports/${job.id}/report.xlsx`; link.hidden = false;
      }
      if (job.files.length) {
        document.getElementById("files-card").hidden = false;
        document.querySelector("#files tbody").innerHTML = job.files.map((f) => `<tr><td>${esc(f.name)}</td><td>${esc(f.message)}</td></tr>`).join("");
      }
      if (job.rows.length) {
        document.getElementById("rows-card").hidden = false;
        const LABEL = {created: "新录入", updated: "已更新", unchanged: "无变化", failed: "失败"};
        const rows = job.rows.slice().sort((a, b) => (a.status === "failed" ? 0 : 1) - (b.status === "failed" ? 0 : 1));
        document.querySelector("#rows tbody").innerHTML = rows.map((r) => `<tr data-status="${r.status}">
          <td>${esc(r.number)}</td><td>${esc(r.name)}</td><td class="st-${r.status}">${LABEL[r.status] || r.status}</td>
          <td>${r.photos_enrolled} 张合格${r.photos_failed ? "，" + r.photos_failed + " 张失败" : ""}</td><td>${esc(r.reasons)}</td></tr>`).join("");
      }
      if (job.lookalikes.length) {
        document.getElementById("lookalikes-card").hidden = false;
        document.querySelector("#lookalikes tbody").innerHTML = job.lookalikes.map((p) => `<tr>
          <td>${esc(p.a.number)} ${esc(p.a.name)}</td><td>${esc(p.b.number)} ${esc(p.b.name)}</td><td>${p.distance}</td><td>${esc(p.advice)}</td></tr>`).join("");
      }
    }
  }

  // --- 会议机构 ----------------------------------------------------------------
  async function bodiesPage() {
    const deputies = await api("GET", "/api/deputies");
    const seated = {};
    deputies.forEach((d) => { seated[d.body_id] = (seated[d.body_id] || 0) + 1; });
    document.querySelector("#bodies tbody").innerHTML = bodies.map((b) => `<tr>
      <td style="padding-left:${0.5 + 1.5 * b.depth}em">${b.depth ? "└ " : ""}${esc(b.name)}</td><td>${KIND[b.kind] || b.kind}</td><td>${seated[b.id] || 0}</td></tr>`).join("") ||
      '<tr><td colspan="3">还没有会议机构</td></tr>';
    document.getElementById("body-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = formJson(e.target);
      if (body.parent_id) body.parent_id = Number(body.parent_id);
      try {
        await api("POST", "/api/bodies", body);
        location.reload();
      } catch (err) { document.getElementById("body-msg").textContent = err.message; }
    });
  }

  // --- 新建会议 ----------------------------------------------------------------
  async function meetingPage() {
    const form = document.getElementById("meeting-form");
    let deputies = [];
    try { deputies = await api("GET", "/api/deputies"); } catch (err) { deputies = []; }
    function preview() {
      const id = Number(form.body_id.value);
      const list = deputies.filter((d) => d.body_id === id && d.status === "seated");
      document.getElementById("preview-count").textContent = `应到 ${list.length} 人`;
      document.getElementById("preview").innerHTML = list.map((d) => `<li>${esc(d.number)} ${esc(d.name)}</li>`).join("");
    }
    form.body_id.addEventListener("change", preview);
    document.getElementById("rule").addEventListener("change", (e) => {
      document.querySelector(".custom-only").hidden = e.target.value !== "custom";
    });
    preview();
    function zoned(v) { return v ? v + (v.length === 16 ? ":00" : "") + baodaoOffset(v) : null; }
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = formJson(form);
      const body = {body_id: Number(v.body_id), title: v.title, starts_at: zoned(v.starts_at),
        window_opens_at: zoned(v.window_opens_at), window_closes_at: zoned(v.window_closes_at), rule: v.rule};
      if (v.rule === "custom") { body.numerator = Number(v.numerator); body.denominator = Number(v.denominator); }
      try {
        const m = await api("POST", "/api/meetings", body);
        const st = await api("GET", `/api/meetings/${m.id}/status`);
        document.getElementById("created-card").hidden = false;
        document.getElementById("created-text").textContent = `「${m.title}」已创建（编号 ${m.id}），应到 ${st.expected} 人，法定人数 ${st.required} 人。`;
        document.getElementById("screen-link").href = `/meetings/${m.id}/screen`;
        document.getElementById("operator-link").href = `/meetings/${m.id}/operator`;
        document.getElementById("extra-form").dataset.meeting = m.id;
      } catch (err) { document.getElementById("meeting-error").textContent = err.message; }
    });
    document.getElementById("extra-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = formJson(e.target);
      try {
        const st = await api("POST", `/api/meetings/${e.target.dataset.meeting}/roster`, {number: v.number, role: v.role});
        document.getElementById("extra-msg").textContent = `已添加 ${v.number}（列席/工作人员共 ${st.nonvoting_expected} 人，不计入法定人数）`;
        e.target.reset();
      } catch (err) { document.getElementById("extra-msg").textContent = err.message; }
    });
  }

  // --- 签到终端 ----------------------------------------------------------------
  function kiosksPage() {
    async function load() {
      const ks = await api("GET", "/api/kiosks");
      document.querySelector("#kiosks tbody").innerHTML = ks.map((k) => `<tr data-name="${esc(k.name)}">
        <td>${esc(k.name)}</td><td>${esc(k.venue || "")}</td><td>${esc(bodyName[k.body_id] || "未绑定")}</td>
        <td>${k.revoked ? '<span class="muted">已吊销</span>' : k.online ? '<span class="ok">● 在线</span>' : '<span class="error">● 离线</span>'}</td>
        <td>${k.last_seen_at ? new Date(k.last_seen_at).toLocaleString("zh-CN", {hour12: false}) : "从未连接"}</td>
        <td>${k.revoked ? "" : '<button class="act revoke">吊销</button>'}</td></tr>`).join("") || '<tr><td colspan="6">还没有签到终端</td></tr>';
    }
    document.querySelector("#kiosks tbody").addEventListener("click", async (e) => {
      if (!e.target.classList.contains("revoke")) return;
      const name = e.target.closest("tr").dataset.name;
      if (!confirm(`吊销终端「${name}」？吊销后它立即不能再签到。`)) return;
      await api("DELETE", "/api/kiosks/" + encodeURIComponent(name));
      load();
    });
    document.getElementById("kiosk-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = formJson(e.target);
      body.body_id = Number(body.body_id);
      try {
        const k = await api("POST", "/api/kiosks", body);
        document.getElementById("token-box").hidden = false;
        document.getElementById("token-text").textContent = k.token;
        document.getElementById("pair-url").textContent = k.pair_url;
        document.getElementById("qr").innerHTML = k.qr_svg;
        e.target.reset(); load();
      } catch (err) { document.getElementById("kiosk-error").textContent = err.message; }
    });
    load();
    setInterval(load, 10000);
  }

  // --- 账号 --------------------------------------------------------------------
  function accountsPage() {
    const ROLE = {admin: "管理员", secretariat: "秘书处"};
    const msg = document.getElementById("account-msg");
    async function load() {
      const us = await api("GET", "/api/users");
      document.querySelector("#accounts tbody").innerHTML = us.map((u) => `<tr data-id="${u.id}" data-name="${esc(u.username)}">
        <td>${esc(u.username)}</td><td>${ROLE[u.role] || u.role}</td>
        <td>${u.all_bodies ? "全部会议机构" : u.body_ids.map((b) => esc(bodyName[b] || b)).join("、")}</td>
        <td>${u.active ? (u.must_change_password ? "待修改初始密码" : "启用") : '<span class="muted">已停用</span>'}</td>
        <td><button class="act reset">重置密码</button> ${u.active ? '<button class="act off">停用</button>' : '<button class="act on">启用</button>'}</td></tr>`).join("");
    }
    function tempPassword() {
      const a = new Uint8Array(12); crypto.getRandomValues(a);
      return Array.from(a, (x) => "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"[x % 55]).join("");
    }
    document.querySelector("#accounts tbody").addEventListener("click", async (e) => {
      const tr = e.target.closest("tr");
      if (!tr) return;
      const id = tr.dataset.id, name = tr.dataset.name;
      try {
        if (e.target.classList.contains("reset")) {
          if (!confirm(`重置 ${name} 的密码？`)) return;
          const r = await api("POST", `/api/users/${id}/reset-password`);
          msg.innerHTML = `${esc(name)} 的临时密码（只显示这一次）：<code>${esc(r.password)}</code>`;
        } else if (e.target.classList.contains("off")) {
          if (!confirm(`停用账号 ${name}？其所有登录立即失效。`)) return;
          await api("POST", `/api/users/${id}/deactivate`); msg.textContent = `已停用 ${name}`;
        } else if (e.target.classList.contains("on")) {
          await api("POST", `/api/users/${id}/activate`); msg.textContent = `已启用 ${name}`;
        } else return;
        load();
      } catch (err) { msg.textContent = err.message; }
    });
    document.getElementById("account-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = formJson(e.target);
      const password = tempPassword();
      const body = {username: v.username, role: v.role, password, body_ids: v.body_id ? [Number(v.body_id)] : null};
      try {
        await api("POST", "/api/users", body);
        msg.innerHTML = `已新建 ${esc(v.username)}，临时密码（只显示这一次）：<code>${esc(password)}</code>`;
        e.target.reset(); load();
      } catch (err) { msg.textContent = err.message; }
    });
    load();
  }

  ({deputies: deputiesPage, import: importPage, bodies: bodiesPage, meeting: meetingPage,
    kiosks: kiosksPage, accounts: accountsPage})[page]();
})();
