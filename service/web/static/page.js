// The examiner's page: send a document to POST /v1/documents with the pasted API key and the
// stated purpose, and show what came back. Plain DOM, no libraries.
"use strict";

const KEY_ITEM = "imprint.apiKey";
const PURPOSE_ITEM = "imprint.purpose";
const VERDICT_WORDS = {
  genuine: "Genuine",
  suspected_forgery: "Suspected forgery",
  different_seal: "Different seal",
  inconclusive: "Inconclusive",
};

const $ = (id) => document.getElementById(id);
let matchThreshold = 0; // of the last identification, shown beside each score

// Header values travel as bytes; fetch accepts only Latin-1 strings, so a purpose in Chinese is
// sent as its UTF-8 bytes, one character per byte (the service decodes it as UTF-8).
function utf8Header(text) {
  return Array.from(new TextEncoder().encode(text), (b) => String.fromCharCode(b)).join("");
}

function authHeaders() {
  const headers = { Authorization: "Bearer " + $("api-key").value.trim() };
  const purpose = $("purpose").value.trim();
  if (purpose) headers["X-Purpose"] = utf8Header(purpose);
  return headers;
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
  status.setAttribute("role", isError ? "alert" : "status");
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error) return `${body.error.message} (${body.error.code}, ${response.status})`;
  } catch (_) { /* not JSON: fall through */ }
  return `the service answered ${response.status}`;
}

function remember() {
  sessionStorage.setItem(KEY_ITEM, $("api-key").value.trim());
  sessionStorage.setItem(PURPOSE_ITEM, $("purpose").value.trim());
}

function restore() {
  $("api-key").value = sessionStorage.getItem(KEY_ITEM) || "";
  $("purpose").value = sessionStorage.getItem(PURPOSE_ITEM) || "";
}

function verdictWords(imprint) {
  if (!imprint.match) return "No registered seal";
  return VERDICT_WORDS[imprint.verdict] || "Not compared (no usable master)";
}

function showPages(file, pages, imprints) {
  const holder = $("pages");
  holder.replaceChildren();
  for (const page of pages) {
    const onPage = imprints.map((imp, i) => [imp, i]).filter(([imp]) => imp.page === page.page);
    const figure = document.createElement("figure");
    figure.className = "page";
    const frame = document.createElement("div");
    frame.className = "page-frame";
    const img = document.createElement("img");
    img.src = "data:image/jpeg;base64," + page.thumbnail_jpeg;
    img.alt = `Page ${page.page + 1} of ${file}, with ${onPage.length} seal imprint(s) ` +
      "outlined and numbered as in the list below.";
    frame.append(img);
    for (const [imp, i] of onPage) {
      const [x0, y0, x1, y1] = imp.box;
      const box = document.createElement("div");
      box.className = "box";
      box.setAttribute("aria-hidden", "true");
      box.style.left = `${(100 * x0) / page.width}%`;
      box.style.top = `${(100 * y0) / page.height}%`;
      box.style.width = `${(100 * (x1 - x0)) / page.width}%`;
      box.style.height = `${(100 * (y1 - y0)) / page.height}%`;
      const label = document.createElement("span");
      label.textContent = String(i + 1);
      box.append(label);
      frame.append(box);
    }
    const caption = document.createElement("figcaption");
    caption.textContent = `Page ${page.page + 1}: ${onPage.length} imprint(s)`;
    figure.append(frame, caption);
    holder.append(figure);
  }
}

async function downloadReport(event) {
  event.preventDefault();
  const link = event.currentTarget;
  const format = link.dataset.format;
  setStatus(`Fetching the ${format.toUpperCase()} report…`);
  const response = await fetch(link.dataset.url, { headers: authHeaders() });
  if (!response.ok) {
    setStatus("The report could not be fetched: " + (await errorText(response)), true);
    return;
  }
  // the report needs the key, so it is fetched here and handed to the browser as a file
  const url = URL.createObjectURL(await response.blob());
  const save = document.createElement("a");
  save.href = url;
  save.download = `seal-report-${link.dataset.reportId}.${format}`;
  document.body.append(save);
  save.click();
  save.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  setStatus(`The ${format.toUpperCase()} report was downloaded.`);
}

function showImprint(imp, i, total) {
  const card = $("imprint-template").content.firstElementChild.cloneNode(true);
  const q = (selector) => card.querySelector(selector);
  card.id = `imprint-${i + 1}`;
  card.setAttribute("aria-labelledby", `imprint-${i + 1}-title`);
  q(".imprint-title").id = `imprint-${i + 1}-title`;
  q(".imprint-title").textContent =
    `Imprint ${i + 1} of ${total} · page ${imp.page + 1} · ${imp.colour} ${imp.shape}`;
  const verdict = q(".verdict");
  verdict.textContent = verdictWords(imp);
  verdict.classList.add(imp.match && imp.verdict ? imp.verdict : "none");

  q(".seal").textContent = imp.match || "none (matches no filed seal)";
  q(".unit").textContent = imp.unit || "—";
  q(".registry-status").textContent = imp.status || "—";
  q(".registry-status").classList.toggle("alarm", Boolean(imp.status && imp.status !== "active"));
  q(".lr").textContent = imp.log10_lr === null ? "—" :
    (imp.log10_lr >= 0 ? "+" : "") + imp.log10_lr.toFixed(2);
  const best = imp.candidates[0];
  q(".score").textContent = best ?
    `${best.score.toFixed(3)} (threshold ${matchThreshold.toFixed(3)})` : "—";
  if (imp.status_flag) {
    q(".status-flag").textContent = imp.status_flag;
    q(".status-flag").hidden = false;
  }

  if (imp.master_png && imp.query_png) {
    const master = q(".master");
    const query = q(".query");
    master.src = "data:image/png;base64," + imp.master_png;
    master.alt = `Master imprint of seal ${imp.match} (blue), in its canonical frame.`;
    query.src = "data:image/png;base64," + imp.query_png;
    query.alt = `The questioned imprint ${i + 1} (red), turned and scaled onto the master.`;
    const fade = q(".fade");
    fade.id = `fade-${i + 1}`;
    fade.setAttribute("aria-label",
      `Imprint ${i + 1}: fade from the master (0) to the questioned imprint (100)`);
    const apply = () => {
      query.style.opacity = String(fade.value / 100);
      fade.setAttribute("aria-valuetext", `${fade.value} % questioned imprint`);
    };
    fade.addEventListener("input", apply);
    apply();
    q(".overlay").src = "data:image/png;base64," + imp.overlay_png;
    q(".overlay").alt = `Overlay of the questioned imprint ${i + 1} (red) on the master of ` +
      `seal ${imp.match} (blue); dark where both have ink.`;
    q(".compare").hidden = false;
  }
  if (imp.reasons && imp.reasons.length) {
    for (const reason of imp.reasons) {
      const li = document.createElement("li");
      li.textContent = reason;
      q(".reasons").append(li);
    }
    q(".reasons-box").hidden = false;
  }
  if (imp.report_id) {
    for (const link of card.querySelectorAll(".report-link")) {
      const url = `/v1/reports/${encodeURIComponent(imp.report_id)}?format=${link.dataset.format}`;
      link.href = url;
      link.dataset.url = url;
      link.dataset.reportId = imp.report_id;
      link.setAttribute("aria-label", `Download the ${link.dataset.format.toUpperCase()} ` +
        `report of imprint ${i + 1}`);
      link.addEventListener("click", downloadReport);
    }
    q(".report").hidden = false;
  }
  return card;
}

async function examine(event) {
  event.preventDefault();
  const file = $("document").files[0];
  if (!$("api-key").value.trim()) { setStatus("Paste an API key first.", true); return; }
  if (!file) { setStatus("Choose a page image or PDF to examine.", true); return; }
  remember();
  const form = new FormData();
  form.append("file", file, file.name);
  if ($("document-date").value) form.append("date", $("document-date").value);
  $("submit").disabled = true;
  $("results").hidden = true;
  setStatus(`Examining ${file.name}…`);
  try {
    const response = await fetch("/v1/documents", {
      method: "POST", headers: authHeaders(), body: form,
    });
    if (!response.ok) {
      setStatus("The document could not be examined: " + (await errorText(response)), true);
      return;
    }
    const found = await response.json();
    matchThreshold = found.threshold;
    showPages(found.file, found.pages, found.imprints);
    const list = $("imprints");
    list.replaceChildren(...found.imprints.map((imp, i) =>
      showImprint(imp, i, found.imprints.length)));
    $("results").hidden = false;
    const n = found.imprints.length;
    setStatus(n ? `${n} seal imprint(s) found in ${found.file}.` :
      `No seal imprint was found in ${found.file}.`);
  } catch (err) {
    setStatus("The service could not be reached: " + err.message, true);
  } finally {
    $("submit").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  restore();
  $("api-key").addEventListener("change", remember);
  $("purpose").addEventListener("change", remember);
  $("examine").addEventListener("submit", examine);
});
