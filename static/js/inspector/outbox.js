/* The inspector's outbox: every report is first written to IndexedDB (with its photos) under a
   key generated on the phone, then sent; a failed send is retried, with the same key, until the
   centre answers. The server makes one case per key, so retries never duplicate a report. */
(function () {
  "use strict";
  const body = document.body;
  const S = JSON.parse(document.getElementById("strings").textContent);
  const API = body.dataset.api; // /api/v1/inspector
  const DB_NAME = "inspector";
  const STORE = "outbox";
  const KEEP_SENT = 20;
  let csrf = document.querySelector('meta[name="csrf-token"]').content;
  let flushing = false;
  let retryTimer = null;

  function openDb() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => {
        const store = req.result.createObjectStore(STORE, { keyPath: "key" });
        store.createIndex("createdAt", "createdAt");
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }

  function tx(mode, fn) {
    return openDb().then((db) => new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const out = fn(t.objectStore(STORE));
      t.oncomplete = () => { db.close(); resolve(out && out.result !== undefined ? out.result : out); };
      t.onerror = () => { db.close(); reject(t.error); };
    }));
  }

  const all = () => tx("readonly", (s) => s.getAll());
  const put = (item) => tx("readwrite", (s) => s.put(item));
  const remove = (key) => tx("readwrite", (s) => s.delete(key));

  function newKey() {
    if (self.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  /** Keep a report (fields + photo Blobs) on the phone, then try to send it. */
  async function enqueue(fields, photos) {
    const item = {
      key: newKey(), createdAt: new Date().toISOString(), fields, status: "queued",
      attempts: 0, error: "", number: "",
      // Blobs are stored as they are: IndexedDB keeps binary data.
      photos: photos.map((f) => ({ name: f.name || "photo.jpg", type: f.type, blob: f })),
    };
    item.fields.reported_at = item.createdAt;
    await put(item);
    await render();
    flush();
    return item.key;
  }

  async function refreshCsrf() {
    const r = await fetch(API + "/session", { headers: { Accept: "application/json" }, cache: "no-store" });
    if (r.status === 401 || r.redirected) throw Object.assign(new Error(S.login_again), { login: true });
    if (!r.ok) throw new Error("HTTP " + r.status);
    csrf = (await r.json()).csrf_token;
  }

  async function sendOne(item) {
    const form = new FormData();
    for (const [k, v] of Object.entries(item.fields)) if (v !== null && v !== undefined) form.append(k, v);
    for (const p of item.photos) form.append("photos", p.blob, p.name);
    return fetch(API + "/reports", {
      method: "POST", body: form,
      headers: { "Idempotency-Key": item.key, "X-CSRFToken": csrf, Accept: "application/json" },
    });
  }

  /** Send what waits, oldest first; stop at the first network failure and retry later. */
  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      const waiting = (await all()).filter((i) => i.status === "queued" || i.status === "sending")
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      if (!waiting.length) return;
      await refreshCsrf();
      for (const item of waiting) {
        item.status = "sending"; item.attempts += 1;
        await put(item); await render();
        let r;
        try { r = await sendOne(item); } catch (e) {
          item.status = "queued"; item.error = S.retry; await put(item); throw e;
        }
        if (r.ok) {
          const data = await r.json();
          Object.assign(item, { status: "sent", number: data.number, error: "", photos: [], flags: data.flags || [] });
        } else if (r.status >= 500 || r.status === 429 || r.status === 401) {
          item.status = "queued"; item.error = S.retry + " (HTTP " + r.status + ")";
          await put(item);
          throw new Error("HTTP " + r.status);
        } else {
          let msg = "HTTP " + r.status;
          try { msg = (await r.json()).error.message; } catch (e) { /* not JSON */ }
          Object.assign(item, { status: "failed", error: msg });
        }
        await put(item);
        await render();
      }
      await prune();
    } catch (e) {
      scheduleRetry();
      const note = document.getElementById("net");
      if (e && e.login && note) note.textContent = S.login_again;
    } finally {
      flushing = false;
      await render();
    }
  }

  function scheduleRetry() {
    if (retryTimer) return;
    retryTimer = setTimeout(() => { retryTimer = null; if (navigator.onLine) flush(); }, 15000);
  }

  async function prune() {
    const sent = (await all()).filter((i) => i.status === "sent")
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    for (const old of sent.slice(KEEP_SENT)) await remove(old.key);
  }

  const LABEL = { queued: "queued", sending: "sending", sent: "sent", failed: "failed" };

  /** Show every item with its state, and the count of unsent ones on the tab. */
  async function render() {
    const items = (await all()).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    const unsent = items.filter((i) => i.status !== "sent").length;
    const badge = document.getElementById("outbox-badge");
    if (badge) { badge.textContent = unsent; badge.hidden = !unsent; }
    const list = document.getElementById("outbox");
    if (!list) return;
    list.replaceChildren();
    if (!items.length) {
      const li = document.createElement("li"); li.className = "muted"; li.textContent = S.none;
      list.append(li);
    }
    for (const item of items) {
      const li = document.createElement("li");
      li.className = "outbox-item status-" + item.status;
      li.dataset.key = item.key;
      li.dataset.status = item.status;
      const when = new Date(item.createdAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      const title = document.createElement("span");
      title.textContent = when + " · " + (item.fields.description || "").slice(0, 40);
      const state = document.createElement("strong");
      state.className = "state";
      state.textContent = S[LABEL[item.status]] + (item.number ? " · " + S.case + " " + item.number : "");
      li.append(title, state);
      if (item.error && item.status !== "sent") {
        const err = document.createElement("small"); err.textContent = item.error; li.append(err);
      }
      if (item.status === "failed") {
        const btn = document.createElement("button");
        btn.type = "button"; btn.textContent = S.remove;
        btn.onclick = () => remove(item.key).then(render);
        li.append(btn);
      }
      list.append(li);
    }
  }

  function showNet() {
    const el = document.getElementById("net");
    if (!el) return;
    el.textContent = navigator.onLine ? S.online : S.offline;
    el.classList.toggle("off", !navigator.onLine);
  }

  window.addEventListener("online", () => { showNet(); flush(); });
  window.addEventListener("offline", showNet);
  showNet();
  render().then(flush);

  if ("serviceWorker" in navigator && body.dataset.sw) {
    navigator.serviceWorker.register(body.dataset.sw, { scope: body.dataset.swScope }).catch(() => null);
  }

  /** What the page scripts share. */
  window.Inspector = {
    strings: S, api: API, enqueue, flush, render, all,
    csrf: () => csrf,
    /** POST a FormData to the API with the CSRF header; JSON answer or an Error with .message. */
    async post(url, form) {
      const send = () => fetch(url, { method: "POST", body: form, headers: { "X-CSRFToken": csrf, Accept: "application/json" } });
      let r = await send();
      if (r.status === 400) {
        const data = await r.clone().json().catch(() => ({}));
        if (data.error && data.error.code === "csrf_failed") { await refreshCsrf(); r = await send(); }
      }
      const data = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error((data.error && data.error.message) || "HTTP " + r.status);
      return data;
    },
    /** Previews of chosen photos, each removable; returns the live list of Files. */
    photoPicker(input, list) {
      const files = [];
      input.addEventListener("change", () => {
        for (const f of input.files) {
          files.push(f);
          const li = document.createElement("li");
          const img = document.createElement("img");
          img.src = URL.createObjectURL(f); img.alt = f.name;
          const btn = document.createElement("button");
          btn.type = "button"; btn.textContent = "×"; btn.setAttribute("aria-label", S.remove);
          btn.onclick = () => { files.splice(files.indexOf(f), 1); li.remove(); URL.revokeObjectURL(img.src); };
          li.append(img, btn);
          list.append(li);
        }
        input.value = "";
      });
      return files;
    },
  };
})();
