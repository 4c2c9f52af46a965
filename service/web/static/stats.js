// Registry statistics on the examiner's page: filed seals counted by one axis (GET /v1/stats),
// drawn as an inline SVG bar chart, no libraries. Asked for only when the panel is opened, so
// a key whose role may not read statistics (investigators, banks) causes no refused request
// unless its holder opens the panel. Uses authHeaders() and errorText() of page.js.
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const BAR_HEIGHT = 22; // px per bar, gap included
  const LABEL_WIDTH = 230; // px left of the bars
  const CHART_WIDTH = 720;
  const MAX_BARS = 30; // the largest groups; for periods, the latest
  const AXIS_WORDS = {
    kind: "kind", status: "status now", engraver: "engraver",
    region: "region (area of the seal code)", period: "month of filing",
  };
  const $ = (id) => document.getElementById(id);

  function say(text, isError = false) {
    $("stats-status").textContent = text;
    $("stats-status").classList.toggle("error", isError);
  }

  function svg(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function draw(stats, by) {
    const all = stats.by[by] || [];
    const shown = by === "period" ? all.slice(-MAX_BARS) : all.slice(0, MAX_BARS);
    const chart = $("stats-chart");
    const height = Math.max(1, shown.length) * BAR_HEIGHT + 4;
    chart.setAttribute("viewBox", `0 0 ${CHART_WIDTH} ${height}`);
    chart.setAttribute("width", CHART_WIDTH);
    chart.setAttribute("height", height);
    const largest = Math.max(1, ...shown.map((t) => t.count));
    const room = CHART_WIDTH - LABEL_WIDTH - 70;
    chart.replaceChildren(...shown.map((t, i) => {
      const y = i * BAR_HEIGHT + 2;
      const label = t.value === null ? "(none on file)" : t.value;
      const width = Math.max(1, Math.round((room * t.count) / largest));
      const row = svg("g", { class: "row" });
      row.append(
        svg("title", {}, `${label}: ${t.count}`),
        svg("text", { x: LABEL_WIDTH - 8, y: y + 15, "text-anchor": "end" }, label),
        svg("rect", { class: "bar", x: LABEL_WIDTH, y, width, height: BAR_HEIGHT - 6 }),
        svg("text", { class: "count", x: LABEL_WIDTH + width + 6, y: y + 15 }, String(t.count)),
      );
      return row;
    }));
    const left = all.length - shown.length;
    $("stats-caption").textContent =
      `${stats.seals} filed seal(s) by ${AXIS_WORDS[by]}` +
      (by === "status" ? `, on ${stats.on.slice(0, 10)}` : "") +
      (left > 0 ? `; ${by === "period" ? "the latest" : "the largest"} ${shown.length} of ` +
        `${all.length} shown` : "") + ".";
    $("stats-figure").hidden = false;
  }

  async function load() {
    if (!$("stats").open) return;
    if (!$("api-key").value.trim()) { say("Paste an API key first.", true); return; }
    const by = $("stats-by").value;
    say("Counting…");
    try {
      const response = await fetch(`/v1/stats?by=${encodeURIComponent(by)}`,
        { headers: authHeaders() });
      if (response.status === 403) {
        $("stats-figure").hidden = true;
        say("This key's role may not read the registry statistics.");
        return;
      }
      if (!response.ok) {
        $("stats-figure").hidden = true;
        say("The statistics could not be read: " + (await errorText(response)), true);
        return;
      }
      draw(await response.json(), by);
      say("");
    } catch (err) {
      say("The service could not be reached: " + err.message, true);
    }
  }

  async function downloadCsv() {
    const response = await fetch("/v1/stats?format=csv", { headers: authHeaders() });
    if (!response.ok) {
      say("The CSV could not be read: " + (await errorText(response)), true);
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const save = document.createElement("a");
    save.href = url;
    save.download = "registry-stats.csv";
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("stats").addEventListener("toggle", load);
    $("stats-by").addEventListener("change", load);
    $("api-key").addEventListener("change", load);
    $("stats-csv").addEventListener("click", downloadCsv);
  });
})();
