// The trace viewer's pages: a client of the JSON endpoints (see the README),
// routed by the URL's hash so that every view has a link:
//   #/runs                 runs, their config and rule sets; two runs overlaid
//   #/curves/RUN           every metric against the step (click a point: that step)
//   #/step/RUN/STEP        the step's groups, widest reward spread first
//   #/group/ID             a group's completions side by side
//   #/sample/ID            one sample (its permalink)
//   #/lists/RUN/LIST?...   never solved, format right answer wrong, ... and a free filter
// Once a page has rendered, #rendered holds a JSON summary of what it shows
// (charts and their points, completions, reasons, console errors, render time):
// the browser test and the benchmark read it.
"use strict";

const errors = [];
window.addEventListener("error", (e) => errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => errors.push(String(e.reason)));
const consoleError = console.error.bind(console);
console.error = (...args) => { errors.push(args.map(String).join(" ")); consoleError(...args); };

let charts = [];        // Chart.js instances of the page shown
let refresh = null;     // the timer that reloads a running run's curves
let renderCount = 0;    // pages rendered since the document loaded

// MARK: - Small helpers

/** An element with attributes (on* as listeners) and children (strings become text). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path) {
  const response = await fetch(path);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(3);
}

/** A table from {columns, rows}; `link(column, value, row)` may turn a cell into a link. */
function tableOf(data, link) {
  const head = el("tr", {}, data.columns.map((c) => el("th", {}, c)));
  const rows = data.rows.map((row) => el("tr", {}, row.map((v, i) => {
    const target = link && link(data.columns[i], v, row);
    const cell = target ? el("a", { href: target }, fmt(v)) : fmt(v);
    return el("td", { class: typeof v === "number" ? "num" : null }, cell);
  })));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, rows.length ? rows : el("tr", {}, el("td",
    { colspan: data.columns.length }, "(no rows)"))));
}

/** Links to the same table as CSV and JSON lines. */
function exports(url) {
  const sep = url.includes("?") ? "&" : "?";
  return el("p", { class: "legend" }, "export: ", el("a", { href: url + sep + "format=csv", download: "" }, "CSV"),
    " · ",
    el("a", { href: url + sep + "format=jsonl", download: "" }, "JSON lines"));
}

const palette = ["#1565c0", "#c62828", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e",
  "#37474f"];

/**
 * A line chart: `series` is [{name, values, dashed}] against `steps`; points only for
 * `points: true`. Clicking a point calls onPoint(step).
 */
function chart(container, title, steps, series, options = {}) {
  const canvas = el("canvas");
  const box = el("div", { class: "chart", "data-title": title }, el("h4", {}, title), canvas);
  container.append(box);
  const datasets = series.map((s, i) => ({
    label: s.name,
    data: (s.steps || steps).map((x, j) => ({ x, y: s.values[j] })).filter((p) => p.y !== null && p.y !== undefined),
    borderColor: s.color || palette[i % palette.length],
    backgroundColor: s.color || palette[i % palette.length],
    borderDash: s.dashed ? [6, 4] : [],
    borderWidth: 1.5,
    pointRadius: s.points ? 4 : (steps.length > 60 ? 0 : 2),
    pointHitRadius: 6,
    showLine: !s.points,
    spanGaps: true,
  }));
  const instance = new Chart(canvas, {
    type: "line",
    data: { datasets },
    options: {
      animation: false, parsing: false, normalized: true, maintainAspectRatio: false,
      interaction: { mode: "nearest", intersect: false },
      scales: { x: { type: "linear", title: { display: true, text: "step" } }, y: options.y || {} },
      plugins: { legend: { display: series.length > 1, labels: { boxWidth: 12 } } },
      onClick: (event, elements) => {
        if (!elements.length || !options.onPoint) return;
        const e = elements[0];
        options.onPoint(datasets[e.datasetIndex].data[e.index].x);
      },
    },
  });
  instance.$title = title;
  charts.push(instance);
  return instance;
}

function clearPage() {
  for (const c of charts) c.destroy();
  charts = [];
  if (refresh) clearTimeout(refresh);
  refresh = null;
}

/** What the page shows, for the test and the benchmark. */
function rendered(page, extra = {}) {
  renderCount += 1;
  const summary = {
    page, render: renderCount, render_ms: Math.round(performance.now()), errors,
    charts: charts.map((c) => ({ title: c.$title, datasets: c.data.datasets.map((d) => ({ label: d.label,
      points: d.data.length })) })),
    ...extra,
  };
  document.getElementById("rendered").textContent = JSON.stringify(summary);
}

function nav(run) {
  const links = [el("a", { href: "#/runs" }, "Runs")];
  if (run !== undefined) {
    links.push(el("a", { href: `#/curves/${run}` }, "Curves"), el("a", { href: `#/lists/${run}/never-solved` },
      "Lists"));
  }
  document.getElementById("nav").replaceChildren(...links);
}

// MARK: - Pages

async function runsPage(main, params) {
  nav(params.get("run") || undefined);
  const runs = await api("/api/runs");
  main.append(el("h2", {}, "Runs"));
  const picked = new Set((params.get("compare") || "").split(",").filter(Boolean));
  const table = el("table", {},
    el("tr", {}, ["compare", "id", "name", "status", "steps", "samples", "task set", "rule set", "hash",
      "reward (last)", "created"].map((h) => el("th", {}, h))),
    runs.map((r) => {
      const last = r.last_metrics ? JSON.parse(r.last_metrics) : {};
      return el("tr", {},
        el("td", {}, el("input", { type: "checkbox", checked: picked.has(String(r.id)), onchange: (e) => {
          e.target.checked ? picked.add(String(r.id)) : picked.delete(String(r.id));
          location.hash = `#/runs?compare=${[...picked].join(",")}`;
        } })),
        el("td", { class: "num" }, r.id), el("td", {}, el("a", { href: `#/curves/${r.id}` }, r.name)), el("td", {},
          r.status),
        el("td", { class: "num" }, r.steps), el("td", { class: "num" }, r.samples), el("td", {}, r.task_set || "–"),
        el("td", {}, r.rules_name || "–"), el("td", {}, (r.rules_hash || "–").slice(0, 12)),
        el("td", { class: "num" }, fmt(last.reward_mean)), el("td", {}, r.created));
    }));
  main.append(table, exports("/api/runs"));

  const compared = runs.filter((r) => picked.has(String(r.id))).slice(0, 2);
  if (compared.length === 2) {
    const metric = params.get("metric") || "reward_mean";
    const curves = await Promise.all(compared.map((r) => api(`/api/runs/${r.id}/curves`)));
    const names = [...new Set(curves.flatMap((c) => c.series.map((s) => s.name)))].sort();
    const select = el("select",
      { onchange: (e) => {
        const compare = [...picked].join(",");
        location.hash = `#/runs?compare=${compare}&metric=${encodeURIComponent(e.target.value)}`;
      } },
      names.map((n) => el("option", { value: n, selected: n === metric }, n)));
    main.append(el("h3", {}, "Two runs overlaid: ", select));
    const box = el("div", { class: "charts" });
    main.append(box);
    chart(box, `${metric}: ${compared[0].name} and ${compared[1].name}`, [], curves.map((c, i) => {
      const s = c.series.find((x) => x.name === metric) || { values: [] };
      return { name: `${c.name} (run ${c.run})`, steps: c.steps, values: s.values, color: palette[i] };
    }));
  } else {
    main.append(el("p", { class: "muted" }, "Tick two runs to overlay their curves."));
  }

  for (const r of runs) {
    const last = r.last_metrics ? JSON.parse(r.last_metrics) : {};
    let config = r.config;
    try { config = JSON.stringify(JSON.parse(r.config), null, 1); } catch (e) { /* shown as recorded */ }
    main.append(el("details", { id: `run-${r.id}` },
      el("summary", {}, `run ${r.id}: ${r.name} (${r.status}, ${r.steps} steps)`),
      r.error ? el("p", { class: "error" }, r.error) : null,
      el("div", { class: "row" },
        el("div", {}, el("h3", {}, "Rules"), tableOf({ columns: ["rule", "kind", "weight"],
          rows: r.rules.map((x) => [x.name, x.kind, x.weight]) }),
          el("h3", {}, `Rule set ${r.rules_name || ""}, SHA-256 ${r.rules_hash || "–"}`), el("pre", {},
            r.rules_text || "(not recorded)")),
        el("div", {}, el("h3", {}, `Last step (${r.last_step ?? "–"})`),
          tableOf({ columns: ["metric", "value"],
            rows: Object.entries(last).filter(([k]) => !k.startsWith("expert_load/")) })),
        el("div", {}, el("h3", {}, "Config"), el("pre", {}, config)))));
  }
  rendered("runs", { runs: runs.length });
}

/** The curves page's charts: [title, [series names or a test on the name], options]. */
function curveGroups(names, rules) {
  const has = (n) => names.includes(n);
  const groups = [
    ["reward", ["reward_mean", "reward_std"]],
    ["pass rate per rule", rules.map((r) => `pass_rate/${r.name}`), { y: { min: 0, max: 1 } }],
    ["completion length (tokens)", ["completion_len_mean", "completion_len_min", "completion_len_max"]],
    ["truncated share", ["truncated_frac"], { y: { min: 0, max: 1 } }],
    ["KL", ["kl"]], ["entropy", ["entropy"]],
    ["clip fractions", ["clip_frac_low", "clip_frac_high"]],
    ["frac_reward_zero_std", ["frac_zero_std"], { y: { min: 0, max: 1 } }],
    ["logprob_mismatch_max", ["logprob_mismatch_max"]],
    ["learning rate", ["learning_rate"]],
    ["loss and grad norm", ["loss", "grad_norm"]],
    ["advantage", ["advantage_mean", "advantage_std"]],
    ["expert imbalance", ["expert_imbalance"]],
    ["step time (s)", ["sampling_s", "scoring_s", "training_s"]],
    ["tokens/s", ["tokens_per_s"]],
  ];
  const used = new Set(groups.flatMap((g) => g[1]).concat(["ratio_mean"]));
  const layers = new Map();
  for (const n of names) {
    const m = /^expert_load\/(\d+)\//.exec(n);
    if (m) { if (!layers.has(m[1])) layers.set(m[1], []); layers.get(m[1]).push(n); used.add(n); }
  }
  for (const [layer, series] of layers) groups.push([`expert load, layer ${layer}`, series, { y: { min: 0 } }]);
  const rest = names.filter((n) => !used.has(n) && !n.startsWith("pass_rate/"));
  for (const n of rest) groups.push([n, [n]]);
  return groups.map(([title, series, options]) => [title, series.filter(has),
    options || {}]).filter((g) => g[1].length);
}

async function curvesPage(main, run) {
  nav(run);
  const [curves, runs] = await Promise.all([api(`/api/runs/${run}/curves`), api("/api/runs")]);
  const info = runs.find((r) => r.id === curves.run);
  main.append(el("h2", {},
    `Curves: ${curves.name} (run ${curves.run}, ${curves.steps.length} steps` +
      `${info && info.status === "running" ? ", running: refreshing" : ""})`),
    el("p", { class: "legend" }, "Click a point to open that step. Diagnostic rules (weight 0) are dashed."),
      exports(`/api/runs/${run}/curves`));
  const box = el("div", { class: "charts" });
  main.append(box);
  const byName = new Map(curves.series.map((s) => [s.name, s]));
  const diagnostic = new Set(curves.rules.filter((r) => r.weight === 0).map((r) => `pass_rate/${r.name}`));
  const open = (step) => { location.hash = `#/step/${curves.run}/${step}`; };
  for (const [title, names, options] of curveGroups([...byName.keys()], curves.rules)) {
    chart(box, title, curves.steps,
      names.map((n) => ({
        name: n.replace(/^pass_rate\//, ""), values: byName.get(n).values, dashed: diagnostic.has(n),
      })), { ...options, onPoint: open });
  }
  if (curves.evals.length) {
    chart(box, "evaluation (points)", [], curves.evals.map((e) => ({ name: `${e.metric}, ${e.task_set} ${e.split}`,
      steps: e.steps, values: e.values, points: true })), { onPoint: open });
  }
  if (info && info.status === "running") refresh = setTimeout(route, 5000);
  rendered("curves", { run: curves.run, steps: curves.steps.length });
}

async function stepPage(main, run, step) {
  nav(run);
  const url = `/api/runs/${run}/steps/${step}/groups`;
  const groups = await api(url);
  main.append(el("h2", {}, `Step ${step} of run ${run}`),
    el("p", {}, el("a", { href: `#/step/${run}/${Number(step) - 1}` }, "← previous step"), " · ",
      el("a", { href: `#/step/${run}/${Number(step) + 1}` }, "next step →")),
    el("p", { class: "legend" }, "Groups, the widest spread of rewards first: a flat group (std 0) teaches nothing."),
    tableOf(groups, (c, v) => (c === "group" ? `#/group/${v}` : null)), exports(url));
  rendered("step", { groups: groups.rows.length });
}

/** Background of a token: green for a positive advantage, red for a negative one, stronger the less likely it was. */
function tint(logprob, advantage) {
  const surprise = logprob === null ? 0 : Math.min(1, -logprob / 4);
  const alpha = 0.06 + 0.8 * surprise;
  if (advantage > 0) return `rgba(46,125,50,${alpha.toFixed(2)})`;
  if (advantage < 0) return `rgba(198,40,40,${alpha.toFixed(2)})`;
  return `rgba(96,96,96,${alpha.toFixed(2)})`;
}

function tokensOf(sample) {
  const box = el("div", { class: "tokens" });
  if (sample.token_texts) {
    sample.token_texts.forEach((text, i) => {
      if (!text) return;
      const lp = sample.token_logprobs[i];
      box.append(el("span", { style: `background:${tint(lp, sample.advantage)}`,
        title: `id ${sample.token_ids[i]}, log-prob ${fmt(lp)}` }, text));
    });
  } else {
    // Not byte tokens: the text once, then each token's log-prob tinted the same way.
    box.append(el("div", {}, sample.completion));
    sample.token_logprobs.forEach((lp, i) => box.append(el("span",
      { style: `background:${tint(lp, sample.advantage)}`, title: `id ${sample.token_ids[i]}` }, `${fmt(lp)} `)));
  }
  return box;
}

function sampleCard(sample) {
  const sign = sample.advantage > 0 ? "pos" : sample.advantage < 0 ? "neg" : "";
  return el("div", { class: `card ${sign}`, "data-sample": sample.id },
    el("div", { class: "head" }, el("a", { href: `#/sample/${sample.id}` },
      `#${sample.index} (sample ${sample.id})`), `reward ${fmt(sample.reward)}`),
    el("div", {},
      `advantage ${fmt(sample.advantage)} · ${sample.finish_reason}${sample.truncated ? " (truncated)" : ""} · ` +
        `${sample.num_tokens} tokens · log-prob sum ${fmt(sample.logprob_sum)}`),
    el("table", { class: "scores" }, el("tr", {}, ["rule", "score", "reason", "detail"].map((h) => el("th", {}, h))),
      sample.scores.map((s) => el("tr", { "data-reason": s.reason },
        el("td", {}, s.weight === 0 ? `${s.rule} (diagnostic)` : s.rule), el("td", { class: "num" },
          s.score === null ? "n/a" : fmt(s.score)),
        el("td", {}, s.reason), el("td", {}, s.detail || "")))),
    tokensOf(sample));
}

const tokenLegend = () => el("p", { class: "legend" },
  "Tokens: green where the advantage is positive, red where negative; " +
    "the stronger, the lower the sampler's log-prob (hover for it).");

async function groupPage(main, id) {
  const group = await api(`/api/groups/${id}`);
  nav(group.run);
  main.append(el("h2", {}, `Group ${group.id}: step `, el("a", { href: `#/step/${group.run}/${group.step}` },
    group.step), ` of run ${group.run}, task ${group.task_id}`),
    el("p", {},
      `reward mean ${fmt(group.reward_mean)}, std ${fmt(group.reward_std)}, ${group.samples.length} completions`),
    el("h3", {}, "Prompt"), el("pre", {}, group.prompt), tokenLegend(),
    el("div", { class: "group" }, group.samples.map(sampleCard)));
  rendered("group", { group: group.id, completions: group.samples.map((s) => s.id),
    reasons: group.samples.flatMap((s) => s.scores.map((x) => x.reason)) });
}

async function samplePage(main, id) {
  const sample = await api(`/api/samples/${id}`);
  nav(sample.run);
  main.append(el("h2", {}, `Sample ${sample.id}: group `, el("a", { href: `#/group/${sample.group}` }, sample.group),
    `, step ${sample.step} of run ${sample.run}, task ${sample.task_id}`),
    el("h3", {}, "Prompt"), el("pre", {}, sample.prompt), tokenLegend(), el("div", { class: "group" },
      sampleCard(sample)),
    el("h3", {}, "Completion"), el("pre", { id: "completion" }, sample.completion));
  rendered("sample", { sample: sample.id, completion: sample.completion, reasons: sample.scores.map((x) => x.reason) });
}

const lists = {
  "never-solved": "Never solved: tasks no sample got full marks on, by an answer rule",
  "format-ok-answer-wrong": "Format right, answer wrong",
  "highest-reward-wrong": "Highest-reward wrong answers (reward hacking suspects)",
  "flat-groups": "Flat groups: every reward equal, advantage 0",
  "samples": "Filter samples",
};
const filterFields = ["task", "step", "first_step", "last_step", "rule", "reason", "above", "below", "order",
  "ascending", "limit"];

async function listsPage(main, run, list, params) {
  nav(run);
  main.append(el("h2", {}, `Lists of run ${run}`),
    el("p", { class: "tabs" }, Object.keys(lists).map((l) => el("a", { href: `#/lists/${run}/${l}`,
      class: l === list ? "on" : null }, lists[l].split(":")[0]))));
  const form = el("form", { class: "filter", onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const f of filterFields) { const v = form.elements[f].value.trim(); if (v) q.set(f, v); }
    location.hash = `#/lists/${run}/${list}?${q}`;
  } }, (list === "samples" ? filterFields : ["first_step", "last_step", "limit"]).map((f) =>
    el("label", {}, f, el("input", { name: f, value: params.get(f) || "" }))), el("button", {}, "apply"));
  for (const f of filterFields) if (!form.elements[f]) form.append(el("input", { type: "hidden", name: f, value: "" }));
  const query = new URLSearchParams([...params].filter(([k]) => filterFields.includes(k)));
  const url = `/api/runs/${run}/lists/${list}${query.toString() ? "?" + query : ""}`;
  const table = await api(url);
  main.append(el("h3", {}, lists[list] || list), form,
    tableOf(table, (c,
      v) => (c === "id" ? `#/sample/${v}` : c === "group" || c === "last_group" ? `#/group/${v}` : null)),
      exports(url));
  rendered("lists", { list, rows: table.rows.length });
}

// MARK: - Routing

async function route() {
  clearPage();
  const main = document.getElementById("main");
  main.replaceChildren();
  const [path, query] = (location.hash.replace(/^#/, "") || "/runs").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    switch (parts[0]) {
      case "curves": await curvesPage(main, parts[1]); break;
      case "step": await stepPage(main, parts[1], parts[2]); break;
      case "group": await groupPage(main, parts[1]); break;
      case "sample": await samplePage(main, parts[1]); break;
      case "lists": await listsPage(main, parts[1], parts[2] || "never-solved", params); break;
      default: await runsPage(main, params);
    }
  } catch (error) {
    main.append(el("p", { class: "error" }, String(error.message || error)));
    errors.push(String(error.message || error));
    rendered("error");
  }
}

window.addEventListener("hashchange", route);
route();
