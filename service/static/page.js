// The page at `/`: plain JavaScript over the service's own JSON API (no framework, no build, nothing fetched
// from elsewhere). Every server message is put in with textContent, never as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const JOB_POLL_MS = 1000;
const ACTIVE_JOB_STATUSES = new Set(["queued", "running"]);

// The API key lives in this variable only: never in storage, cookies or the URL.
let apiKey = "";

// ---- helpers ---------------------------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function svgEl(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

class ApiError extends Error {
  constructor(status, body) {
    const message = body && typeof body.message === "string" ? body.message : `HTTP ${status}`;
    super(message);
    this.status = status;
    this.body = body;
  }
}

// fetch + JSON; a non-2xx answer (other than `okStatuses`) raises ApiError carrying the server's ErrorBody.
async function api(method, path, body, { auth = false, okStatuses = [] } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && apiKey) headers["X-API-Key"] = apiKey;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok && !okStatuses.includes(response.status)) throw new ApiError(response.status, data);
  return data;
}

function showError(box, error) {
  box.replaceChildren();
  box.append(el("strong", { text: error instanceof ApiError ? `${error.status}: ` : "" }), error.message);
  const hint = error.body && error.body.hint;
  if (hint) box.append(el("div", { class: "hint", text: hint }));
  box.hidden = false;
}

function hideError(box) {
  box.hidden = true;
  box.replaceChildren();
}

function formatCount(value) {
  return value === null || value === undefined ? "—" : Number(value).toLocaleString("en");
}

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function formatRate(wrong, total) {
  if (!total) return "—";
  return `${wrong} / ${total} (${((100 * wrong) / total).toFixed(2)}%)`;
}

// ---- readiness -------------------------------------------------------------------------------------

async function loadReadiness() {
  const badge = document.getElementById("readiness");
  try {
    const ready = await api("GET", "/readyz", undefined, { okStatuses: [503] });  // 503 says why not
    badge.dataset.state = ready.ready ? "ready" : "not-ready";
    badge.textContent = ready.ready ? "ready" : "not ready";
    badge.title = Object.entries(ready.models).map(([arch, state]) => `${arch}: ${state}`).join(", ");
  } catch (error) {
    badge.dataset.state = "not-ready";
    badge.textContent = "unreachable";
    badge.title = error.message;
  }
}

// ---- models and curves -----------------------------------------------------------------------------

function versionRow(arch, version) {
  const button = el("button", { type: "button", class: "link", text: "curve" });
  button.dataset.arch = arch;
  button.dataset.version = String(version.version);
  button.addEventListener("click", () => showCurve(arch, version.version));
  return el(
    "tr",
    {},
    el("td", { text: `${version.active ? "● " : ""}${version.version}` }),
    el("td", { text: version.task }),
    el("td", { text: version.converged ? "yes" : "no" }),
    el("td", { class: "num", text: formatCount(version.sequences_to_criterion) }),
    el("td", { class: "num", text: formatRate(version.wrong_argmax, version.n_test) }),
    el("td", { class: "num", text: formatRate(version.wrong_paper, version.n_test) }),
    el("td", { class: "num", text: formatCount(version.parameter_count) }),
    el("td", { text: new Date(version.created_at).toLocaleString() }),
    el("td", {}, button),
  );
}

function modelBlock(model) {
  const heading = el(
    "h3",
    {},
    el("code", { text: model.arch }),
    el("span", { class: `badge state-${model.state}`, text: model.state }),
  );
  const facts = el(
    "p",
    { class: "facts" },
    `serving version ${model.active_version ?? "—"} · ${formatCount(model.parameter_count)} parameters · ` +
      `device ${model.device ?? "—"}`,
  );
  const block = el("div", { class: "model" }, heading, facts);
  if (model.error) block.append(el("p", { class: "error", text: model.error }));
  const table = el(
    "table",
    {},
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ...["version", "task", "converged", "sequences to criterion", "wrong (argmax)", "wrong (paper's 0.3 rule)",
          "parameters", "recorded", ""].map((name) => el("th", { text: name })),
      ),
    ),
    el("tbody", {}, ...model.versions.map((version) => versionRow(model.arch, version))),
  );
  block.append(table);
  if (model.history.length > 0) block.append(activationHistory(model.history));
  return block;
}

// Activations, newest first (as /models/{arch} lists them): from which version to which, by what, when.
function activationHistory(history) {
  const rows = history.map((step) =>
    el(
      "tr",
      {},
      el("td", { text: new Date(step.at).toLocaleString() }),
      el("td", { class: "num", text: step.from_version === null ? "—" : String(step.from_version) }),
      el("td", { class: "num", text: String(step.to_version) }),
      el("td", { text: step.undoes === null ? step.by : `${step.by} (undoes activation ${step.undoes})` }),
    ),
  );
  const table = el(
    "table",
    { class: "history" },
    el("thead", {}, el("tr", {}, ...["when", "from version", "to version", "by"].map((name) => el("th", { text: name })))),
    el("tbody", {}, ...rows),
  );
  return el("details", { class: "history" }, el("summary", { text: `activation history (${plural(history.length, "activation")})` }), table);
}

async function loadModels() {
  const body = document.getElementById("models-body");
  try {
    const list = await api("GET", "/models");
    body.replaceChildren(...list.models.map(modelBlock));
    body.classList.remove("loading");
    const select = document.getElementById("arch");
    select.replaceChildren(el("option", { value: "", text: `default (${list.default_arch ?? "none"})` }));
    for (const model of list.models) {
      const option = el("option", { value: model.arch, text: `${model.arch} v${model.active_version ?? "—"}` });
      if (model.state !== "ready") option.disabled = true;
      select.append(option);
    }
    const jobArch = document.getElementById("job-arch");
    const chosen = jobArch.value;
    jobArch.replaceChildren(...[...list.models.map((model) => model.arch), "all"].map((name) => el("option", { text: name })));
    jobArch.value = chosen;
    return list;
  } catch (error) {
    body.replaceChildren(el("p", { class: "error", text: `could not load the models: ${error.message}` }));
    return null;
  }
}

// A log-scale line chart of training error against sequences seen: `highlight` bold, the others faint.
function curveChart(trials, highlight, { width = 640, height = 260 } = {}) {
  const margin = { left: 52, right: 26, top: 10, bottom: 34 };
  const floor = 1e-4;
  const all = trials.flatMap((trial) => trial.points);
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, class: "curve", role: "img" });
  if (all.length === 0) {
    const text = svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle" });
    text.textContent = "no curve points recorded for this run";
    svg.append(text);
    return svg;
  }
  const maxX = Math.max(...all.map((p) => p.sequences), 1);
  const logs = all.map((p) => Math.log10(Math.max(p.train_error, floor)));
  const lo = Math.floor(Math.min(...logs, -1.5));
  const hi = Math.ceil(Math.max(...logs, 0));
  const x = (value) => margin.left + ((width - margin.left - margin.right) * value) / maxX;
  const y = (error) => {
    const value = Math.log10(Math.max(error, floor));
    return margin.top + ((height - margin.top - margin.bottom) * (hi - value)) / (hi - lo || 1);
  };
  for (let exponent = lo; exponent <= hi; exponent += 1) {
    const yy = y(10 ** exponent);
    svg.append(svgEl("line", { x1: margin.left, x2: width - margin.right, y1: yy, y2: yy, class: "grid" }));
    const label = svgEl("text", { x: margin.left - 6, y: yy + 4, "text-anchor": "end", class: "tick" });
    label.textContent = `1e${exponent}`;
    svg.append(label);
  }
  for (let step = 0; step <= 4; step += 1) {
    const value = (maxX * step) / 4;
    const label = svgEl("text", { x: x(value), y: height - 16, "text-anchor": "middle", class: "tick" });
    label.textContent = Math.round(value).toLocaleString("en");
    svg.append(label);
  }
  const axis = svgEl("text", { x: (width + margin.left) / 2, y: height - 2, "text-anchor": "middle", class: "tick" });
  axis.textContent = "training sequences";
  svg.append(axis);
  const criterion = y(0.1);
  svg.append(svgEl("line", { x1: margin.left, x2: width - margin.right, y1: criterion, y2: criterion, class: "criterion" }));
  const ordered = [...trials].sort((a, b) => (a.version === highlight) - (b.version === highlight));
  for (const trial of ordered) {
    if (trial.points.length === 0) continue;
    const path = trial.points.map((p, i) => `${i ? "L" : "M"}${x(p.sequences).toFixed(1)},${y(p.train_error).toFixed(1)}`);
    const line = svgEl("path", { d: path.join(" "), class: trial.version === highlight ? "trial highlight" : "trial" });
    const title = svgEl("title");
    title.textContent = `version ${trial.version}, seed ${trial.seed}${trial.converged ? ", converged" : ""}`;
    line.append(title);
    svg.append(line);
  }
  return svg;
}

async function showCurve(arch, version) {
  const panel = document.getElementById("curve-panel");
  const chart = document.getElementById("curve-chart");
  const title = document.getElementById("curve-title");
  panel.hidden = false;
  title.textContent = `${arch} version ${version}: learning curve`;
  try {
    const curve = await api("GET", `/models/${encodeURIComponent(arch)}/versions/${version}/curve`);
    title.textContent = `${arch} version ${version}: learning curve (run ${curve.run_id}, ${plural(curve.run_trials.length, "trial")}, task ${curve.task})`;
    chart.replaceChildren(curveChart(curve.run_trials, version));
  } catch (error) {
    chart.replaceChildren(el("p", { class: "error", text: error.message }));
  }
}

// ---- classify --------------------------------------------------------------------------------------

// The relevant positions as the page can see them: where the X and Y symbols are (0-based, in order).
function relevantPositions(symbols) {
  const positions = [];
  symbols.forEach((symbol, index) => {
    if (symbol === "X" || symbol === "Y") positions.push(index);
  });
  return positions;
}

function probabilityBars(result) {
  const rows = Object.entries(result.probabilities).map(([name, probability]) => {
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(100 * probability).toFixed(2)}%`;
    const row = el(
      "div",
      { class: name === result.label ? "bar chosen" : "bar" },
      el("span", { class: "name", text: name }),
      el("div", { class: "track" }, fill),
      el("span", { class: "value", text: probability.toFixed(4) }),
    );
    if (name === result.rule_label) row.classList.add("truth");
    return row;
  });
  return rows;
}

function heatStrip(symbols, attribution) {
  const strip = document.getElementById("heat-strip");
  strip.replaceChildren();
  const magnitudes = attribution.map((value) => Math.abs(value));
  const largest = Math.max(...magnitudes, 1e-12);
  const marks = new Map(relevantPositions(symbols).map((position, index) => [position, `t${index + 1}`]));
  symbols.forEach((symbol, index) => {
    const share = magnitudes[index] / largest;
    const cell = el("div", { class: "cell", title: `${index + 1}: ${symbol}, attribution ${attribution[index].toPrecision(3)}` });
    cell.style.setProperty("--heat", share.toFixed(3));
    cell.append(el("span", { class: "symbol", text: symbol }));
    if (marks.has(index)) {
      cell.classList.add("relevant");
      cell.append(el("span", { class: "mark", text: marks.get(index) }));
    }
    strip.append(cell);
  });
}

async function classify(event) {
  event.preventDefault();
  const errorBox = document.getElementById("classify-error");
  const resultBox = document.getElementById("classify-result");
  hideError(errorBox);
  const sequence = document.getElementById("sequence").value;
  const arch = document.getElementById("arch").value;
  const body = { sequence, explain: true };
  if (arch) body.arch = arch;
  try {
    const result = await api("POST", "/classify", body);
    const symbols = [...sequence.replace(/\s+/g, "")];
    const verdict = document.getElementById("verdict");
    verdict.replaceChildren(
      el("span", { class: "label", text: result.label }),
      ` by ${result.arch} v${result.model_version}, p = ${result.probabilities[result.label].toFixed(4)}. `,
    );
    if (result.rule_label === null) {
      verdict.append(el("span", { class: "mismatch", text: "The sequence has no rule label." }));
    } else if (result.rule_label === result.label) {
      verdict.append(el("span", { class: "match", text: `✓ matches the rule label ${result.rule_label}.` }));
    } else {
      verdict.append(el("span", { class: "mismatch", text: `✗ the rule label is ${result.rule_label}.` }));
    }
    if (!result.in_distribution) {
      verdict.append(el("div", { class: "note", text: `Outside the training distribution: ${result.problems.join("; ")}` }));
    }
    document.getElementById("probabilities").replaceChildren(...probabilityBars(result));
    document.getElementById("attribution-method").textContent =
      result.attribution_method === "attention" ? "(attention weights)" : "(gradient × input)";
    heatStrip(symbols, result.attribution || symbols.map(() => 0));
    resultBox.hidden = false;
  } catch (error) {
    resultBox.hidden = true;
    showError(errorBox, error);
  }
}

async function drawSequence() {
  const errorBox = document.getElementById("classify-error");
  hideError(errorBox);
  const task = document.getElementById("draw-task").value;
  try {
    const drawn = await api("POST", "/generate", { n: 1, task });
    document.getElementById("sequence").value = drawn.sequences[0].sequence;
  } catch (error) {
    showError(errorBox, error);
  }
}

// ---- training jobs ---------------------------------------------------------------------------------

function jobRow(job) {
  const progress = job.progress;
  const fraction = progress.max_sequences ? progress.sequences / progress.max_sequences : 0;
  const fill = el("div", { class: "fill" });
  fill.style.width = `${Math.min(100, 100 * (job.status === "succeeded" ? 1 : fraction)).toFixed(1)}%`;
  const actions = el("td");
  if (ACTIVE_JOB_STATUSES.has(job.status)) {
    const cancel = el("button", { type: "button", class: "cancel", text: "Cancel" });
    cancel.addEventListener("click", () => cancelJob(job.id));
    actions.append(cancel);
  }
  const results = job.results
    .map((trial) => `${trial.arch} v${trial.model_version ?? "—"}: ${trial.converged ? "converged" : "not converged"}, ` +
      `${trial.wrong_argmax}/${trial.n_test} wrong`)
    .join("; ");
  const row = el(
    "tr",
    { class: `job status-${job.status}` },
    el("td", {}, el("code", { text: job.id.slice(0, 8), title: job.id })),
    el("td", { class: "status", text: job.status }),
    el("td", { text: `${job.params.arch} · ${job.params.task}` }),
    el("td", { text: progress.trials ? `${progress.arch ?? ""} ${progress.trial}/${progress.trials}` : "—" }),
    el(
      "td",
      { class: "progress" },
      el("div", { class: "track" }, fill),
      el("span", { class: "sequences", text: `${formatCount(progress.sequences)} / ${formatCount(progress.max_sequences)}` }),
    ),
    el("td", { class: "num", text: progress.train_error === null ? "—" : progress.train_error.toFixed(4) }),
    el("td", { text: job.error || results || "" }),
    actions,
  );
  row.dataset.jobId = job.id;
  return row;
}

let jobsTimer = null;

async function loadJobs() {
  const body = document.getElementById("jobs-body");
  try {
    const list = await api("GET", "/train?limit=20");
    body.classList.remove("loading");
    if (list.jobs.length === 0) {
      body.replaceChildren(el("p", { class: "note", text: "No training jobs yet." }));
    } else {
      const head = ["job", "status", "what", "trial", "sequences", "train error", "results", ""];
      body.replaceChildren(
        el(
          "table",
          { id: "jobs-table" },
          el("thead", {}, el("tr", {}, ...head.map((name) => el("th", { text: name })))),
          el("tbody", {}, ...list.jobs.map(jobRow)),
        ),
      );
    }
    const active = list.jobs.some((job) => ACTIVE_JOB_STATUSES.has(job.status));
    scheduleJobs(active ? JOB_POLL_MS : 5 * JOB_POLL_MS);
    return list;
  } catch (error) {
    body.replaceChildren(el("p", { class: "error", text: `could not load the jobs: ${error.message}` }));
    scheduleJobs(5 * JOB_POLL_MS);
    return null;
  }
}

function scheduleJobs(delay) {
  clearTimeout(jobsTimer);
  jobsTimer = setTimeout(loadJobs, delay);
}

function readNumber(id) {
  const value = document.getElementById(id).value;
  return value === "" ? undefined : Number(value);
}

async function startJob(event) {
  event.preventDefault();
  const errorBox = document.getElementById("job-error");
  hideError(errorBox);
  apiKey = document.getElementById("api-key").value.trim();
  const body = {
    arch: document.getElementById("job-arch").value,
    task: document.getElementById("job-task").value,
    trials: readNumber("job-trials"),
    max_sequences: readNumber("job-max"),
    seed: readNumber("job-seed"),
  };
  try {
    await api("POST", "/train", body, { auth: true });
    await loadJobs();
  } catch (error) {
    showError(errorBox, error);
  }
}

async function cancelJob(id) {
  const errorBox = document.getElementById("job-error");
  hideError(errorBox);
  apiKey = document.getElementById("api-key").value.trim();
  try {
    await api("DELETE", `/train/${encodeURIComponent(id)}`, undefined, { auth: true });
    await loadJobs();
  } catch (error) {
    showError(errorBox, error);
  }
}

// ---- report ----------------------------------------------------------------------------------------

function meanStd(mean, std) {
  return `${mean.toFixed(2)} ± ${std.toFixed(2)}`;
}

async function loadReport() {
  const body = document.getElementById("report-body");
  try {
    const metrics = await api("GET", "/metrics");
    const head = ["architecture", "task", "version", "converged", "median sequences to criterion",
      "mean sequences to criterion", "wrong, argmax (mean ± std)", "wrong, paper's 0.3 rule", "test sequences",
      "test accuracy"];
    const rows = [];
    const papers = new Map();
    for (const row of metrics.architectures) {
      const s = row.summary;
      rows.push(
        el(
          "tr",
          {},
          el("td", {}, el("code", { text: row.arch })),
          el("td", { text: row.task ?? "—" }),
          el("td", { text: row.active_version ?? "—" }),
          el("td", { text: s ? `${s.converged}/${s.trials}` : "—" }),
          el("td", { class: "num", text: s ? formatCount(s.median_sequences_to_criterion) : "—" }),
          el("td", { class: "num", text: s ? formatCount(s.mean_sequences_to_criterion) : "—" }),
          el("td", { class: "num", text: s ? meanStd(s.mean_wrong_argmax, s.std_wrong_argmax) : "—" }),
          el("td", { class: "num", text: s ? meanStd(s.mean_wrong_paper, s.std_wrong_paper) : "—" }),
          el("td", { class: "num", text: s ? formatCount(s.n_test) : "—" }),
          el("td", { class: "num", text: s ? `${(100 * s.mean_test_accuracy).toFixed(2)}%` : "—" }),
        ),
      );
      if (row.paper) papers.set(row.paper.task, row.paper);
    }
    for (const paper of papers.values()) {
      rows.push(
        el(
          "tr",
          { class: "paper", title: paper.note },
          el("td", { text: "paper, LSTM" }),
          el("td", { text: paper.task }),
          el("td", { text: "—" }),
          el("td", { text: "—" }),
          el("td", { text: "—" }),
          el("td", { class: "num", text: formatCount(paper.sequences_to_criterion) }),
          el("td", { class: "num", text: "—" }),
          el("td", { class: "num", text: `≈${paper.wrong_predictions}` }),
          el("td", { class: "num", text: formatCount(paper.n_test) }),
          el("td", { text: "—" }),
        ),
      );
    }
    body.replaceChildren(
      el(
        "table",
        { id: "report-table" },
        el("thead", {}, el("tr", {}, ...head.map((name) => el("th", { text: name })))),
        el("tbody", {}, ...rows),
      ),
    );
    body.classList.remove("loading");
    await loadReportCurves(metrics.architectures);
  } catch (error) {
    body.replaceChildren(el("p", { class: "error", text: `could not load the report: ${error.message}` }));
  }
}

async function loadReportCurves(architectures) {
  const holder = document.getElementById("report-curves");
  holder.replaceChildren();
  for (const row of architectures) {
    if (row.active_version === null) continue;
    try {
      const curve = await api("GET", `/models/${encodeURIComponent(row.arch)}/versions/${row.active_version}/curve`);
      holder.append(
        el(
          "figure",
          {},
          curveChart(curve.run_trials, row.active_version, { width: 420, height: 220 }),
          el("figcaption", { text: `${row.arch}: ${plural(curve.run_trials.length, "trial")} of run ${curve.run_id}` }),
        ),
      );
    } catch (error) {
      holder.append(el("p", { class: "error", text: `${row.arch}: ${error.message}` }));
    }
  }
}

// ---- start -----------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("classify-form").addEventListener("submit", classify);
  document.getElementById("draw").addEventListener("click", drawSequence);
  document.getElementById("job-form").addEventListener("submit", startJob);
  loadReadiness();
  loadModels();
  loadJobs();
  loadReport();
});
