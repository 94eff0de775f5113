import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readCurrentBundle } from "../../shared/bundle-store.ts";
import { githubFixturesDir } from "../support/paths.ts";
import { type Stack, startStack } from "../support/pipeline.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  await stack.startWorkers();
});
afterAll(async () => {
  await stack?.stop();
});

function fixtureRepos(owner: string): string[] {
  return JSON.parse(readFileSync(join(githubFixturesDir, owner, "repos.json"), "utf8")).map((r: { name: string }) =>
    r.name
  );
}
function fixtureReadme(owner: string, repo: string): string | null {
  const dir = join(githubFixturesDir, owner, repo);
  const f = readdirSync(dir).find((n) => /^readme(\.|$)/i.test(n));
  return f ? readFileSync(join(dir, f), "utf8") : null;
}
const contentRequests = (s: { readme: number; contents: number; languages: number }) =>
  s.readme + s.contents + s.languages;

describe("refresh pipeline (real Redis, fixture GitHub, local storage)", () => {
  test("cold refresh of yungryce: every repo, byte-identical READMEs, languages, context, has_documentation", async () => {
    const job = await stack.refresh("yungryce");
    expect(job.state).toBe("completed");
    expect(job.progress).toMatchObject({ total: 48, completed: 48, failed: 0, pending: 0, percentage: 100 });
    const current = await readCurrentBundle(stack.ctx.store, "yungryce");
    expect(current).not.toBeNull();
    const bundle = current!.bundle;
    expect(bundle.repos.map((r) => r.name).sort()).toEqual(fixtureRepos("yungryce").sort());
    for (const r of bundle.repos) {
      expect(r.readme).toBe(fixtureReadme("yungryce", r.name) ?? "");
      const langs = JSON.parse(readFileSync(join(githubFixturesDir, "yungryce", r.name, "languages.json"), "utf8"));
      expect(r.languages).toEqual(langs);
    }
    const withContext = bundle.repos.filter((r) => Object.keys(r.repoContext).length > 0);
    expect(withContext.length).toBe(21);
    expect(bundle.repos.filter((r) => r.has_documentation).length).toBeGreaterThanOrEqual(3);
    expect(
      bundle.repos.every((r) =>
        r.has_documentation === (Object.keys(r.repoContext).length > 0 && r.readme.trim() !== "")
      ),
    ).toBe(true);
    expect(bundle.repos.find((r) => r.skills_index !== "")).toBeDefined();
    // sorted by name
    const names = bundle.repos.map((r) => r.name.toLowerCase());
    expect(names).toEqual([...names].sort());
  });

  test("second refresh with nothing changed ends fresh with 0 content requests", async () => {
    await stack.github.resetStats();
    const job = await stack.refresh("yungryce");
    expect(job.state).toBe("fresh");
    const s = await stack.github.stats();
    expect(contentRequests(s)).toBe(0);
    expect(s.not_modified).toBeGreaterThanOrEqual(1); // the listing itself was a 304
  });

  test("after a push to 2 repos only those 2 sync and the bundle has their new README", async () => {
    const before = (await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle;
    await stack.github.push("yungryce", "monty", { readme: "# monty\nnew readme after push\n" });
    await stack.github.push("yungryce", "printf", { readme: "# printf\nanother new readme\n" });
    await stack.github.resetStats();
    const job = await stack.refresh("yungryce");
    expect(job.state).toBe("completed");
    expect(job.progress.total).toBe(2);
    const s = await stack.github.stats();
    expect(s.readme).toBe(2);
    const after = (await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle;
    expect(after.fingerprint).not.toBe(before.fingerprint);
    expect(after.repos.find((r) => r.name === "monty")!.readme).toBe("# monty\nnew readme after push\n");
    expect(after.repos.find((r) => r.name === "printf")!.readme).toBe("# printf\nanother new readme\n");
    expect(after.repos.length).toBe(48);
  });

  test("cold refresh of sindresorhus (120 repos, paginated)", async () => {
    const job = await stack.refresh("sindresorhus");
    expect(job.state).toBe("completed");
    expect(job.progress.total).toBe(120);
    const bundle = (await readCurrentBundle(stack.ctx.store, "sindresorhus"))!.bundle;
    expect(bundle.repos.length).toBe(120);
    for (const r of bundle.repos) expect(r.readme).toBe(fixtureReadme("sindresorhus", r.name) ?? "");
  }, 30_000);

  test("unknown user → failed with a reason and error_code github_not_found", async () => {
    const job = await stack.refresh("no-such-user-xyz");
    expect(job.state).toBe("failed");
    expect(job.error).toContain("not found");
    expect(job.error_code).toBe("github_not_found");
  });

  test("a repo whose .repo-context.json is not JSON gets repoContextError, never a crash", async () => {
    await stack.github.setFile("yungryce", "monty", ".repo-context.json", "{ this is not json", true);
    const job = await stack.refresh("yungryce");
    expect(job.state).toBe("completed");
    const rec = (await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle.repos.find((r) => r.name === "monty")!;
    expect(rec.repoContextError).toContain("not valid JSON");
    expect(rec.repoContext).toEqual({});
  });

  test("a deleted repo drops out of the bundle", async () => {
    await stack.github.deleteRepo("yungryce", "printf");
    const job = await stack.refresh("yungryce");
    expect(job.state).toBe("completed");
    const bundle = (await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle;
    expect(bundle.repos.length).toBe(47);
    expect(bundle.repos.find((r) => r.name === "printf")).toBeUndefined();
  });

  test("a user grown 120 → 210 repos (page 1 unchanged, a 304) gets a bundle of 210", async () => {
    const before = await stack.refresh("sindresorhus");
    expect(["completed", "fresh"]).toContain(before.state);
    for (let i = 0; i < 90; i++) await stack.github.addRepo("sindresorhus", `zz-grown-${String(i).padStart(2, "0")}`);
    const job = await stack.refresh("sindresorhus");
    expect(job.state).toBe("completed");
    expect(job.progress.total).toBe(90);
    const bundle = (await readCurrentBundle(stack.ctx.store, "sindresorhus"))!.bundle;
    expect(bundle.repos.length).toBe(210);
  }, 30_000);

  test("a 100,000-level .repo-context.json becomes repoContextError; the refresh completes", async () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    await stack.github.setFile("yungryce", "monty", ".repo-context.json", `{"x": ${deep}}`, true);
    const job = await stack.refresh("yungryce");
    expect(job.state).toBe("completed");
    expect(job.progress.failed).toBe(0);
    const rec = (await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle.repos.find((r) => r.name === "monty")!;
    expect(rec.repoContextError).toContain("nested deeper than");
    expect(rec.repoContext).toEqual({});
  });
});
