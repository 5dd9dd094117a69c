// Swagger UI from the local bundle; "Try it out" writes carry the page's CSRF token.
"use strict";
(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    requestInterceptor: (req) => {
      if (!["GET", "HEAD", "OPTIONS"].includes((req.method || "GET").toUpperCase()) && meta) {
        req.headers["X-CSRF-Token"] = meta.content;
      }
      return req;
    },
  });
})();
