/* Shift supervisor: mark a flagged inspector report as reviewed. */
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  document.querySelectorAll("button.review").forEach((btn) => {
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      const r = await fetch(btn.dataset.url, { method: "POST", headers: { "X-CSRFToken": csrf, Accept: "application/json" } });
      if (r.ok) btn.closest("tr").remove(); else btn.disabled = false;
    });
  });
})();
