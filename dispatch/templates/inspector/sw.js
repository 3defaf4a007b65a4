/* The inspector's service worker: keeps the phone pages and their scripts on the phone so they
   open without a network; reports themselves wait in the page's IndexedDB outbox. */
const CACHE = {{ shell_version|tojson }};
const SHELL = {{ (shell + pages)|tojson }};

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) =>
      // One missing file must not stop the rest from being kept.
      Promise.all(SHELL.map((url) => cache.add(new Request(url, { credentials: "same-origin" })).catch(() => null)))
    ).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

function keep(request, response) {
  if (response && response.ok && response.type === "basic") {
    const copy = response.clone();
    caches.open(CACHE).then((cache) => cache.put(request, copy));
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return; // submissions go through the outbox, never the cache
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/static/")) {
    // Versioned by the shell: cache first.
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request).then((r) => keep(request, r))));
    return;
  }
  const readable = request.mode === "navigate" || url.pathname.startsWith("/api/v1/inspector/categories")
    || url.pathname.startsWith("/api/v1/inspector/grids") || url.pathname.startsWith("/inspector/photos/");
  if (!readable) return;
  // Network first (fresh data when there is a network), the last copy when there is none.
  event.respondWith(
    fetch(request).then((r) => (r.redirected ? r : keep(request, r))).catch(() =>
      caches.match(request, { ignoreSearch: request.mode === "navigate" }).then((hit) => hit || Response.error())
    )
  );
});
