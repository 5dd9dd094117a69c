"use strict";
document.getElementById("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const r = await fetch("/api/auth/login", {method: "POST", body: new FormData(form), credentials: "same-origin"});
  if (r.ok) { location.href = form.dataset.next || "/meetings"; return; }
  const data = await r.json().catch(() => ({}));
  document.getElementById("login-error").textContent = data.message || "登录失败";
});
