// Every lesson in a real browser: JupyterLab in headless Chromium, each notebook opened in turn
// (no kernel closed), Run All, then what a learner would see is asserted. Run by scripts/test-binder.sh
// (make test-browser / make test-binder), which starts JupyterLab inside the Binder-sized box.
//
//   node tests/browser/lessons.mjs --url http://127.0.0.1:8888 --token T --out build \
//        [--cgroup /sys/fs/cgroup/labs-binder] notebooks/00-welcome.ipynb ...
//
// Per lesson: no error output; every widget rendered (no "model not found", no raw repr such as
// `Output()`); no progress bar unfinished or red; every plot image loaded; every mermaid diagram
// drawn; a full-page screenshot in OUT/screenshots/. The fault panel gets a wrong value typed and
// its message checked. With --cgroup, the box's working set is sampled every 250 ms: the peak per
// lesson and any OOM kill are reported. Results: OUT/browser-results.json; exit status 1 on a failure.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const [value] = argv.splice(i, 2).slice(1);
  return value;
};
const url = opt("url");
const token = opt("token", "");
const out = opt("out", "build");
const cgroup = opt("cgroup", "");
const chromiumPath = opt("chromium", "/usr/bin/chromium");
const runTimeout = Number(opt("timeout", "600")) * 1000;
const notebooks = argv;
const shots = path.join(out, "screenshots");
fs.mkdirSync(shots, { recursive: true });

// --- the box's memory: working set = usage - inactive file pages (cgroup v2 or v1) ---------------
function readMemory() {
  if (!cgroup) return null;
  const read = (f) => fs.readFileSync(path.join(cgroup, f), "utf8");
  const stat = Object.fromEntries(read("memory.stat").trim().split("\n").map((l) => l.split(" ")));
  if (fs.existsSync(path.join(cgroup, "memory.current"))) {
    return Number(read("memory.current")) - Number(stat.inactive_file || 0);
  }
  return Number(read("memory.usage_in_bytes")) - Number(stat.total_inactive_file || 0);
}
function oomKills() {
  if (!cgroup) return 0;
  for (const [file, key] of [["memory.events", "oom_kill"], ["memory.oom_control", "oom_kill"]]) {
    const p = path.join(cgroup, file);
    if (!fs.existsSync(p)) continue;
    const line = fs.readFileSync(p, "utf8").split("\n").find((l) => l.startsWith(key + " "));
    if (line) return Number(line.split(" ")[1]);
  }
  return 0;
}
let windowPeak = 0, overallPeak = 0;
const sampler = setInterval(() => {
  const used = readMemory();
  if (used === null) return;
  windowPeak = Math.max(windowPeak, used);
  overallPeak = Math.max(overallPeak, used);
}, 250);

const GiB = 2 ** 30;
const log = (...a) => console.log("test-browser:", ...a);

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
const page = await context.newPage();
const consoleErrors = [];
page.on("pageerror", (e) => consoleErrors.push(String(e)));

await page.goto(`${url}/lab?reset&token=${token}`); // ?reset: no tabs restored from an earlier run
await page.waitForFunction(() => window.jupyterapp && window.jupyterapp.shell && window.jupyterapp.commands,
  null, { timeout: 120_000 });
await page.evaluate(() => window.jupyterapp.restored);
// The file browser only takes width from the lesson in a screenshot.
await page.evaluate(() => window.jupyterapp.shell.collapseLeft && window.jupyterapp.shell.collapseLeft());

async function acceptDialogs() {
  // "Select Kernel" and similar: accept the default.
  const accept = page.locator(".jp-Dialog .jp-mod-accept");
  if (await accept.count()) await accept.first().click().catch(() => {});
}

// What the notebook model and the page show, after Run All.
async function inspect() {
  return await page.evaluate(() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.widgets;
    const found = { errors: [], stderr: [], widgetOutputs: 0, images: 0, mermaid: 0, unexecuted: 0 };
    cells.forEach((cell, index) => {
      const model = cell.model;
      if (model.type === "markdown" && /```mermaid/.test(model.sharedModel.getSource())) {
        found.mermaid += (model.sharedModel.getSource().match(/```mermaid/g) || []).length;
      }
      if (model.type !== "code") return;
      if (model.sharedModel.getSource().trim() && model.executionCount === null) found.unexecuted += 1;
      for (const output of model.outputs.toJSON()) {
        if (output.output_type === "error") found.errors.push({ cell: index, ename: output.ename, evalue: output.evalue });
        if (output.output_type === "stream" && output.name === "stdout") {
          const text = [].concat(output.text).join("");
          const line = text.split("\n").find((l) => l.startsWith("labs: this box has"));
          if (line) found.madeRoom = line.slice(0, 400);
        }
        if (output.output_type === "stream" && output.name === "stderr") {
          const text = [].concat(output.text).join("");
          found.stderr.push({ cell: index, text: text.slice(0, 300), traceback: /Traceback|Exception|Error:/.test(text) });
        }
        const data = output.data || {};
        if (data["application/vnd.jupyter.widget-view+json"]) found.widgetOutputs += 1;
        if (data["image/png"] || data["image/svg+xml"] || data["image/jpeg"]) found.images += 1;
      }
    });
    const node = panel.content.node;
    const text = node.innerText;
    found.widgetErrors = ["model not found", "Error displaying widget", "Error rendering"].filter((t) => text.includes(t));
    // A widget shown as its repr (no widget manager): text/plain such as "Output()" or "HBox(children=...".
    found.rawReprs = [...node.querySelectorAll('.jp-OutputArea-output[data-mime-type="text/plain"]')]
      .map((e) => e.innerText.trim())
      .filter((t) => /^(Output|HBox|VBox|IntSlider|FloatSlider|FloatProgress|IntProgress|Button|ToggleButton|Label|HTML|Dropdown|Tab|Accordion)\(/.test(t));
    // (A finished progress bar is closed, so its output shows nothing: widget outputs and views need not match.)
    found.widgetViews = node.querySelectorAll(".jp-OutputArea-output > .jupyter-widgets").length;
    const bars = [...node.querySelectorAll(".widget-progress .progress-bar")];
    found.progress = {
      total: bars.length,
      red: bars.filter((b) => b.className.includes("danger")).length,
      unfinished: bars.filter((b) => !b.className.includes("danger") && parseFloat(b.style.width || "0") < 99.5).length,
    };
    const imgs = [...node.querySelectorAll(".jp-RenderedImage img")];
    found.imagesRendered = imgs.filter((i) => i.complete && i.naturalWidth > 0).length;
    const diagrams = [...node.querySelectorAll(".jp-RenderedMermaid")];
    found.mermaidRendered = diagrams.filter((d) => d.querySelector("svg, img") && !d.classList.contains("jp-mod-warning")).length;
    // The notebook scrolls inside its panel: the page needs the panel's full height plus the page's chrome.
    const scroller = node.querySelector(".jp-WindowedPanel-outer") || node;
    found.height = scroller.scrollHeight + (window.innerHeight - scroller.clientHeight);
    return found;
  });
}

// The fault panel (lesson 02): type a value beyond the latency slider's range into its readout;
// the panel must clamp it to the slider's maximum, apply that, and say so in its status line.
async function faultPanelCheck() {
  const slider = page.locator(".widget-slider", { hasText: "latency (ms)" }).first();
  if (!(await slider.count())) return null;
  const readout = slider.locator(".widget-readout");
  const status = page.locator(".widget-label", { hasText: /latency .* ms/ }).first();
  await readout.click();
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.type("99999");
  await page.keyboard.press("Enter");
  await page.waitForFunction((el) => /latency 2000 /.test(el.innerText), await status.elementHandle(), { timeout: 30_000 })
    .catch(() => {});
  const clamped = await status.innerText().catch(() => "");
  await readout.click();
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.type("abc");
  await page.keyboard.press("Enter");
  await page.waitForTimeout(1000);
  const afterText = await readout.innerText().catch(() => "");
  const reset = page.locator(".widget-button", { hasText: "reset" }).first();
  await reset.click();
  await page.waitForFunction((el) => /latency 0 /.test(el.innerText), await status.elementHandle(), { timeout: 30_000 })
    .catch(() => {});
  const afterReset = await status.innerText().catch(() => "");
  return {
    clampedStatus: clamped, textReverted: afterText, resetStatus: afterReset,
    ok: /latency 2000 /.test(clamped) && afterText.trim() === "2000" && /latency 0 /.test(afterReset),
  };
}

const results = [];
let failed = false;
for (const notebook of notebooks) {
  const name = path.basename(notebook, ".ipynb");
  const started = Date.now();
  windowPeak = readMemory() ?? 0;
  const result = { lesson: name, problems: [] };
  try {
    // (Each evaluate returns nothing: a widget is not serialisable.)
    await page.evaluate(async (p) => { await window.jupyterapp.commands.execute("docmanager:open", { path: p }); }, notebook);
    await page.waitForFunction((p) => window.jupyterapp.shell.currentWidget?.context?.path === p, notebook,
      { timeout: 120_000 });
    await acceptDialogs();
    await page.evaluate(async () => {
      const panel = window.jupyterapp.shell.currentWidget;
      await panel.context.ready;
      await panel.sessionContext.ready;
    });
    // Run All only once the kernel has started and answers (a cold kernel in a 1-CPU box takes seconds).
    await page.waitForFunction(() => window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.status === "idle",
      null, { timeout: 300_000 });
    // Run All resolves when the last cell has run (or a cell failed and stopped the run).
    await page.evaluate(async (ms) => {
      await Promise.race([
        window.jupyterapp.commands.execute("notebook:run-all-cells"),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`Run All took over ${ms / 1000} s`)), ms)),
      ]);
    }, runTimeout);
    await page.waitForFunction(() => window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.status === "idle",
      null, { timeout: 60_000 });
    await page.waitForTimeout(1500); // images decode, widgets and diagrams render
    result.seconds = (Date.now() - started) / 1000;
    Object.assign(result, await inspect());
    if (name.startsWith("02-")) result.faultPanel = await faultPanelCheck();
  } catch (e) {
    result.problems.push(`did not finish: ${e.message.split("\n")[0]}`);
    result.seconds = (Date.now() - started) / 1000;
  }
  const r = result;
  if (r.errors?.length) r.problems.push(`error output in cell(s) ${r.errors.map((e) => `${e.cell} (${e.ename}: ${e.evalue})`.slice(0, 200)).join("; ")}`);
  if (r.unexecuted) r.problems.push(`${r.unexecuted} code cell(s) not executed`);
  if (r.stderr?.some((s) => s.traceback)) r.problems.push(`a traceback on stderr: ${r.stderr.find((s) => s.traceback).text}`);
  if (r.widgetErrors?.length) r.problems.push(`widget errors: ${r.widgetErrors.join(", ")}`);
  if (r.rawReprs?.length) r.problems.push(`widgets shown as text: ${r.rawReprs.slice(0, 3).join(", ")}`);
  if (r.progress?.red) r.problems.push(`${r.progress.red} progress bar(s) red`);
  if (r.progress?.unfinished) r.problems.push(`${r.progress.unfinished} progress bar(s) unfinished`);
  if (r.images !== undefined && r.imagesRendered < r.images) r.problems.push(`${r.images} plot images but ${r.imagesRendered} loaded`);
  if (r.mermaid !== undefined && r.mermaidRendered < r.mermaid) r.problems.push(`${r.mermaid} mermaid diagrams but ${r.mermaidRendered} drawn`);
  if (r.faultPanel && !r.faultPanel.ok) r.problems.push(`fault panel validation: ${JSON.stringify(r.faultPanel)}`);
  // A full-page screenshot: the notebook scrolls inside its panel, so grow the viewport to its height.
  try {
    const height = Math.min(Math.max(1000, (r.height || 1000) + 40), 32_000);
    await page.setViewportSize({ width: 1400, height });
    await page.evaluate(() => {
      const node = window.jupyterapp.shell.currentWidget.content.node;
      (node.querySelector(".jp-WindowedPanel-outer") || node).scrollTop = 0;
    });
    await page.waitForTimeout(1000);
    r.screenshot = path.join(shots, `${name}.png`);
    await page.screenshot({ path: r.screenshot, fullPage: true });
    await page.setViewportSize({ width: 1400, height: 1000 });
  } catch (e) {
    r.problems.push(`screenshot failed: ${e.message.split("\n")[0]}`);
  }
  r.peakGiB = cgroup ? windowPeak / GiB : null;
  r.oomKills = oomKills();
  if (r.oomKills) r.problems.push(`${r.oomKills} OOM kill(s) in the box so far`);
  results.push(r);
  failed ||= r.problems.length > 0;
  const mem = cgroup ? `, peak ${(windowPeak / GiB).toFixed(2)} GiB` : "";
  if (r.madeRoom) log(`${name}: ${r.madeRoom}`);
  log(`${name}: ${r.seconds.toFixed(0)} s${mem}, ${r.images ?? "?"} plots, ${r.mermaid ?? "?"} diagrams, ` +
      `${r.widgetOutputs ?? "?"} widgets, ${r.progress?.total ?? "?"} progress bars: ` +
      (r.problems.length ? `FAILED\n    - ${r.problems.join("\n    - ")}` : "ok"));
}
clearInterval(sampler);
const summary = { results, overallPeakGiB: cgroup ? overallPeak / GiB : null, oomKills: oomKills(), consoleErrors };
fs.writeFileSync(path.join(out, "browser-results.json"), JSON.stringify(summary, null, 1));
if (cgroup) log(`all ${results.length} lessons open at once: peak ${(overallPeak / GiB).toFixed(2)} GiB, OOM kills ${summary.oomKills}`);
await browser.close();
process.exit(failed ? 1 : 0);
