"use strict";
// django-celery-beat's crontab help on the periodic-task admin form ("Translation:
// every hour"), moved out of its inline <script> for the Content-Security-Policy
// (docs/adr/0023).
(function () {
  const data = document.getElementById("readable-crontabs");
  const select = document.getElementById("id_crontab");
  if (!data || !select) {
    return;
  }
  const readable = JSON.parse(data.textContent);
  const help = document.querySelector(".field-crontab .help");
  const original = help ? help.textContent.trim() : "";
  document.querySelectorAll(".field-crontab_translation").forEach((row) => {
    row.style.display = "none";
  });
  select.addEventListener("change", () => {
    if (!help) {
      return;
    }
    const translation = readable[select.value];
    help.replaceChildren(
      original,
      document.createElement("br"),
      "Translation: " + (translation === undefined ? "" : translation),
    );
  });
})();
