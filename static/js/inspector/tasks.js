/* Tasks: the list of my verifications and checks (nearest first once the phone knows where it
   is), and one task's page: new photos, a note and the verdict, sent through the workflow. */
(function () {
  "use strict";
  const I = window.Inspector;
  const S = I.strings;

  function time(iso) {
    return iso ? new Date(iso).toLocaleString([], { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }) : "";
  }

  const list = document.getElementById("tasks");
  if (list) {
    const load = (pos) => {
      const url = new URL(list.dataset.url, location.href);
      if (pos) { url.searchParams.set("lng", pos.coords.longitude); url.searchParams.set("lat", pos.coords.latitude); }
      return fetch(url, { headers: { Accept: "application/json" } }).then((r) => r.json()).then((data) => {
        list.replaceChildren();
        if (!data.tasks.length) {
          const li = document.createElement("li"); li.className = "muted"; li.textContent = S.none; list.append(li);
        }
        for (const t of data.tasks) {
          const li = document.createElement("li");
          li.className = "card level-" + t.level;
          li.dataset.number = t.number;
          const a = document.createElement("a");
          a.href = t.url;
          const head = document.createElement("strong");
          head.textContent = t.kind_label + " · " + t.number;
          const desc = document.createElement("span"); desc.textContent = t.description.slice(0, 80);
          const meta = document.createElement("small");
          meta.textContent = [S[t.level], t.due_at ? S.due + " " + time(t.due_at) : "",
            t.distance_m != null ? S.away.replace("%(m)s", Math.round(t.distance_m)) : ""].filter(Boolean).join(" · ");
          a.append(head, desc, meta);
          li.append(a);
          list.append(li);
        }
        list.setAttribute("aria-busy", "false");
      });
    };
    if (navigator.geolocation) {
      navigator.geolocation.getCurrentPosition((p) => load(p), () => load(null), { timeout: 8000, maximumAge: 60000 });
    } else {
      load(null);
    }
  }

  const task = document.getElementById("task");
  const form = document.getElementById("task-form");
  if (task && form) {
    const previews = document.getElementById("after-previews") || document.getElementById("previews");
    const photos = I.photoPicker(document.getElementById("photos"), previews);
    const errorEl = document.getElementById("form-error");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      errorEl.hidden = true;
      const button = e.submitter;
      const note = form.note.value.trim();
      if (!photos.length) { errorEl.textContent = S.need_photo; errorEl.hidden = false; return; }
      if (button.dataset.needsNote && !note) { errorEl.textContent = S.need_note; errorEl.hidden = false; return; }
      const data = new FormData();
      data.append("verdict", button.value);
      data.append("note", note);
      data.append("version", task.dataset.version);
      photos.forEach((f) => data.append("photos", f, f.name || "photo.jpg"));
      form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      try {
        const out = await I.post(task.dataset.url, data);
        document.getElementById("task-state").textContent = out.state_label;
        const done = document.createElement("p");
        done.id = "task-done"; done.className = "ok"; done.textContent = S.done + " · " + out.state_label;
        form.replaceWith(done);
      } catch (err) {
        errorEl.textContent = err.message; errorEl.hidden = false;
        form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      }
    });
  }
})();
