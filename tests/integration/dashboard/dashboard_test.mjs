// The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core)
// against a real `tenax serve` in front of two real `tenax mock`s. Called by
// test_dashboard.py with one JSON argument:
//   {base, chatUrl, token, killPid, downUrl, owner, screenshot, chromium, userDataDir}
// Prints one JSON line of observations on stdout; the Python side asserts on them. Exits
// non-zero (with the reason on stderr) when a step cannot complete within its deadline.
import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv[2]);
const out = { blocked: [], requestsWithToken: 0, tokenInUrl: false, steps: [] };
const step = (s) => { out.steps.push(s); process.stderr.write("step: " + s + "\n"); };

// Gateway traffic from outside the page, so the numbers have something to show.
let traffic = true;
out.chatAnswered = 0;
async function drive() {
  let n = 0;
  const one = async () => {
    const body = { model: "gpt-4o-mini", messages: [{ role: "user", content: "dashboard " + n++ }] };
    try {
      const r = await fetch(cfg.chatUrl, { method: "POST", body: JSON.stringify(body),
        headers: { "content-type": "application/json" } });
      await r.arrayBuffer();
      out.chatAnswered++;
    } catch (e) { out.chatErrors = (out.chatErrors || 0) + 1; }
  };
  const lanes = [];
  for (let i = 0; i < 3; i++)
    lanes.push((async () => { while (traffic) await one(); })());
  await Promise.all(lanes);
}

// A fresh profile (cfg.userDataDir, made empty by the caller): playwright passes it to chromium
// as --user-data-dir.
const browser = await chromium.launchPersistentContext(cfg.userDataDir, {
  executablePath: cfg.chromium,
  headless: true,
  viewport: { width: 1280, height: 640 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const driving = [];
try {
  // Everything but tenax is blocked: the page must work offline, from tenax alone.
  await browser.route("**/*", (route) => {
    const u = route.request().url();
    if (u.startsWith(cfg.base + "/")) return route.continue();
    out.blocked.push(u);
    return route.abort();
  });
  // Each page is its own tab: session storage (where the token lives) is not shared.
  async function newPage() {
    const page = await browser.newPage();
    const ctx = page;
    page.on("request", (req) => {
      if (cfg.token && req.url().includes(cfg.token)) out.tokenInUrl = true;
      if (req.headers()["authorization"] === "Bearer " + cfg.token) out.requestsWithToken++;
    });
    page.on("pageerror", (e) => out.steps.push("pageerror: " + e.message));
    return { ctx, page };
  }
  const text = (page, sel) => page.locator(sel).innerText();

  // 1. The page loads and asks for the token.
  const { ctx, page } = await newPage();
  const resp = await page.goto(cfg.base + "/dashboard");
  out.status = resp.status();
  out.csp = resp.headers()["content-security-policy"] || "";
  await page.locator("#login.show").waitFor({ timeout: 10000 });
  step("asked for the token");
  out.inflightBeforeToken = await text(page, "#inflight");
  await page.fill("#token", cfg.token);
  await page.click("#login-go");
  await page.waitForFunction(() => document.getElementById("inflight").textContent !== "—",
                             null, { timeout: 10000 });
  out.sessionToken = await page.evaluate(() => sessionStorage.getItem("tenax.adminToken"));
  out.localToken = await page.evaluate(() => localStorage.length);
  out.before = { rps: await text(page, "#rps"), rpsS: await text(page, "#rps-s"),
                 inflight: await text(page, "#inflight") };
  step("unlocked: " + JSON.stringify(out.before));

  // 2. Traffic: the numbers move.
  driving.push(drive());
  await page.waitForFunction(() => {
    const m = /^(\d+) requests/.exec(document.getElementById("rps-s").textContent);
    return m && Number(m[1]) >= 20 && document.getElementById("rps").textContent !== "0.0";
  }, null, { timeout: 20000 });
  out.during = { rps: await text(page, "#rps"), rpsS: await text(page, "#rps-s"),
                 success: await text(page, "#success"), latency: await text(page, "#latency"),
                 latencyS: await text(page, "#latency-s"), inflight: await text(page, "#inflight"),
                 retries: await text(page, "#retries"), budget: await text(page, "#budget") };
  step("traffic: " + JSON.stringify(out.during));

  // 3. An endpoint taken down shows as down.
  const row = page.locator('#endpoints tr[data-url="' + cfg.downUrl + '"]');
  out.healthBefore = await row.getAttribute("data-health", { timeout: 10000 });
  process.kill(cfg.killPid, "SIGKILL");
  await page.locator('#endpoints tr[data-url="' + cfg.downUrl + '"][data-health="down"]')
    .waitFor({ timeout: 20000 });
  out.downRow = await row.innerText();
  out.downPillColor = await row.locator(".pill").evaluate((e) => getComputedStyle(e).color);
  out.upRows = await page.locator('#endpoints tr[data-health="healthy"]').count();
  step("endpoint down: " + out.downRow);
  await page.waitForFunction(() => !/^0 /.test(document.getElementById("failovers").textContent),
                             null, { timeout: 10000 }).catch(() => {});
  out.failovers = await text(page, "#failovers");
  await page.screenshot({ path: cfg.screenshot });
  step("screenshot " + cfg.screenshot);

  // 4. Bulk retry with the token: confirmed, 202.
  out.items = await text(page, "#items");
  let dialogs = [];
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.accept(); });
  await page.fill("#retry-owner", cfg.owner);
  await page.check("#retry-force");
  await page.click("#retry-go");
  await page.locator("#retry-result.good").waitFor({ timeout: 10000 });
  out.retryWithToken = await text(page, "#retry-result");
  out.retryDialogs = dialogs;
  step("retry with token: " + out.retryWithToken);

  // 5. Without the token (a new tab that never had it, then a wrong one): refused.
  const other = await newPage();
  await other.page.goto(cfg.base + "/dashboard");
  await other.page.locator("#login.show").waitFor({ timeout: 10000 });
  other.page.on("dialog", (d) => d.accept());
  await other.page.fill("#retry-owner", cfg.owner);
  await other.page.click("#retry-go");
  await other.page.locator("#retry-result.bad").waitFor({ timeout: 10000 });
  out.retryWithoutToken = await text(other.page, "#retry-result");
  await other.page.fill("#token", "not-the-token");
  await other.page.click("#login-go");
  await other.page.waitForFunction(
    () => /refused/.test(document.getElementById("login-error").textContent), null,
    { timeout: 10000 });
  out.wrongTokenMessage = await text(other.page, "#login-error");
  await other.page.click("#retry-go");
  await other.page.waitForFunction(
    () => /401/.test(document.getElementById("retry-result").textContent), null,
    { timeout: 10000 });
  out.retryWrongToken = await text(other.page, "#retry-result");
  out.otherShowsData = await text(other.page, "#inflight");
  step("refused without the token");
  await other.page.close();

  // 6. The diag's `providers` (with per-endpoint limits and a retry budget) when a server has
  // them: a diag document of that shape is answered in place of the real one.
  const third = await newPage();
  await third.page.route("**/admin/diag*", (route) => route.fulfill({
    status: 200, contentType: "application/json", body: JSON.stringify(cfg.providersDiag) }));
  await third.page.goto(cfg.base + "/dashboard");
  await third.page.fill("#token", cfg.token);
  await third.page.click("#login-go");
  await third.page.locator('#endpoints tr[data-url="http://p1.example/v1"]').waitFor({ timeout: 10000 });
  out.providerRows = await third.page.locator("#endpoints tr").evaluateAll(
    (trs) => trs.map((tr) => ({ health: tr.dataset.health,
      cells: Array.from(tr.cells).map((c) => c.innerText.trim()) })));
  out.providerBudget = await text(third.page, "#budget");
  out.providerBudgetS = await text(third.page, "#budget-s");
  await third.page.close();
  await page.close();
} catch (e) {
  process.stderr.write("FAILED at step after " + JSON.stringify(out.steps.slice(-1)) + ": " +
                       (e && e.stack || e) + "\n");
  console.log(JSON.stringify(out));
  traffic = false;
  await browser.close();
  process.exit(1);
}
traffic = false;
await Promise.all(driving);
await browser.close();
console.log(JSON.stringify(out));
