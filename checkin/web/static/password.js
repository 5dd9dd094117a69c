"use strict";
document.getElementById("password-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const error = document.getElementById("password-error");
  const old_password = form.old_password.value, new_password = form.new_password.value;
  if (new_password !== form.repeat.value) { error.textContent = "两次输入的新密码不一致"; return; }
  const meta = document.querySelector('meta[name="csrf-token"]');
  const r = await fetch("/api/auth/password", {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": meta ? meta.content : ""},
    body: JSON.stringify({old_password, new_password}),
  });
  if (r.ok) { location.href = form.dataset.next || "/meetings"; return; }
  if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
  const data = await r.json().catch(() => ({}));
  error.textContent = data.message || "修改失败";
});
