// The browser kiosk's service worker (served at /kiosk-sw.js, scope /kiosk): the page and its
// assets come from the network when it answers (so an update arrives at the next load), else
// from this cache, so a reload during a network outage still shows the kiosk, which keeps
// buffering frames in IndexedDB. API calls and the WebSocket are never cached.
const CACHE = "baodao-kiosk-v1";
const SHELL = [
  "/kiosk",
  "/static/kiosk/kiosk.css",
  "/static/kiosk/main.js",
  "/static/kiosk/messages.js",
  "/static/kiosk/presence.js",
  "/static/kiosk/protocol.js",
  "/static/kiosk/store.js",
];
const NETWORK_WAIT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || !SHELL.includes(url.pathname)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await Promise.race([
        fetch(event.request),
        new Promise((_, reject) => setTimeout(() => reject(new Error("slow network")), NETWORK_WAIT_MS)),
      ]);
      if (response.ok) await cache.put(url.pathname, response.clone());
      return response;
    } catch (err) {
      const cached = await cache.match(url.pathname);
      if (cached) return cached;
      throw err;
    }
  })());
});
