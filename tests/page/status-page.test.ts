/**
 * The status page in a real browser: Debian's Chromium (/usr/bin/chromium,
 * headless, fresh profile, nothing downloaded) driven by playwright-core
 * against the running stack. Refreshes a fixture user, watches the
 * <progress> reach the total, sees the repository list, asks a question,
 * and fails on any console error, page error, failed request or 4xx/5xx
 * answer. Screenshots go to .tmp/artifacts/status-page/ (gitignored).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { type OpsStack, startOpsStack } from "../support/ops-stack.ts";
import { repoRoot } from "../support/paths.ts";

const CHROMIUM = "/usr/bin/chromium";
const artifacts = join(repoRoot, ".tmp", "artifacts", "status-page");

let s: OpsStack;
let profile: string;
let browser: BrowserContext;
let page: Page;
const problems: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run node scripts/setup.mjs as root`);
  mkdirSync(artifacts, { recursive: true });
  s = await startOpsStack({ latencyMs: 10 });
  profile = mkdtempSync(join(tmpdir(), "foliosync-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // The event stream is closed by the page itself on the final event.
    if (!r.url().includes("/events?")) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
    if (!r.url().startsWith(s.gateway.url)) problems.push(`external resource: ${r.url()}`);
  });
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  if (profile) rmSync(profile, { recursive: true, force: true });
  await s?.stop();
});

test(
  "refresh a fixture user: the progress bar reaches the total, the list appears, a question returns results",
  async () => {
    await page.goto(s.gateway.url + "/", { waitUntil: "load" });
    await page.screenshot({ path: join(artifacts, "1-loaded.png"), fullPage: true });
    const bar = page.locator("progress#progress");
    expect(await bar.getAttribute("aria-label")).toBe("Refresh progress");

    await page.fill("#user", "yungryce");
    await page.click("#refresh");
    // Sampled while it runs: value never above max, and rising.
    const samples: { value: number; max: number }[] = [];
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      const v = await bar.evaluate((el: HTMLProgressElement) => ({ value: el.value, max: el.max }));
      samples.push(v);
      const state = await page.textContent("#state");
      if (/Bundle ready|Already fresh|Failed/.test(state ?? "")) break;
      await page.waitForTimeout(50);
    }
    const state = await page.textContent("#state");
    expect(state).toContain("Bundle ready (48 of 48 repos refreshed)");
    expect(await bar.evaluate((el: HTMLProgressElement) => [el.value, el.max])).toEqual([48, 48]);
    for (const v of samples) expect(v.value).toBeLessThanOrEqual(v.max);
    await page.screenshot({ path: join(artifacts, "2-refreshed.png"), fullPage: true });

    // The repository list: one row per repo, with language and documentation.
    await page.waitForSelector("#repos:not([hidden]) tbody tr");
    expect(await page.locator("#repos tbody tr").count()).toBe(48);
    expect(await page.textContent("#repos-summary")).toMatch(/^48 repositories, \d+ documented/);
    const headers = await page.locator("#repos thead th").allTextContents();
    expect(headers).toEqual(["Name", "Language", "Documented", "Description"]);
    const docCells = await page.locator("#repos tbody td:nth-of-type(2)").allTextContents();
    expect(docCells.every((t) => t === "yes" || t === "no")).toBe(true);
    expect(docCells).toContain("yes");
    expect(await page.textContent("#training")).toContain("Training queued");

    await page.fill("#q", "which projects use Flask?");
    await page.click("#ask");
    await page.waitForSelector("#results li");
    const results = await page.locator("#results li a").allTextContents();
    expect(results.length).toBeGreaterThan(0);
    const answer = await page.textContent("#answer");
    expect(answer).toMatch(/\(48 repos searched; model \S+\)/);
    await page.screenshot({ path: join(artifacts, "3-answered.png"), fullPage: true });

    expect(problems).toEqual([]);
  },
  180_000,
);

test("a reload keeps the user and shows the bundle; no console errors on a fresh load", async () => {
  await page.reload({ waitUntil: "load" });
  await page.waitForSelector("#repos:not([hidden]) tbody tr");
  expect(await page.inputValue("#user")).toBe("yungryce");
  expect(await page.textContent("#model")).toContain("none yet");
  expect(problems).toEqual([]);
}, 60_000);
