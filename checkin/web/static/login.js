"use strict";
document.getElementById("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const r = await fetch("/api/auth/login", {method: "POST", body: new FormData(form), credentials: "same-origin"});
  const data = await r.json().catch(() => ({}));
  const next = form.dataset.next || "/meetings";
  if (r.ok) {
    // A password someone else chose (first admin, reset) is changed before anything else.
    location.href = data.user && data.user.must_change_password
      ? "/password?next=" + encodeURIComponent(next) : next;
    return;
  }
  document.getElementById("login-error").textContent = data.message || "登录失败";
});
