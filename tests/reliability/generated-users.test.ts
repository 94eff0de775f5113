import { afterAll, beforeAll, expect, test } from "bun:test";
import { generatedRepoCount, generatedUser } from "../../scripts/fixtures/generated-users.ts";
import { type FixtureServer, startFixtureServer } from "../support/fixture-server.ts";

let gh: FixtureServer;
beforeAll(async () => {
  gh = await startFixtureServer();
});
afterAll(async () => {
  await gh?.stop();
});

test("gen-<N> names: N repos, deterministic byte for byte, other names are not generated", () => {
  expect(generatedRepoCount("gen-250")).toBe(250);
  expect(generatedRepoCount("GEN-12-load7")).toBe(12);
  for (const bad of ["gen-", "gen-x", "gen-99999", "yungryce", "gen-1-../x"]) {
    expect(generatedRepoCount(bad)).toBeNull();
  }
  const a = generatedUser("gen-40-a")!, b = generatedUser("gen-40-a")!, c = generatedUser("gen-40-b")!;
  expect(a.repos.size).toBe(40);
  const dump = (o: typeof a) =>
    JSON.stringify([...o.repos.values()].map((r) => [r.meta, [...r.files].map(([k, v]) => [k, [...v]]), r.languages]));
  expect(dump(a)).toBe(dump(b));
  expect(dump(a)).not.toBe(dump(c));
  const withReadme = [...a.repos.values()].filter((r) => r.files.has("README.md"));
  expect(withReadme.length).toBeGreaterThan(30);
  expect([...a.repos.values()].some((r) => r.files.has(".repo-context.json"))).toBe(true);
});

test("the fixture server lists a generated user over pages and serves its READMEs and languages", async () => {
  const names: string[] = [];
  for (let page = 1; page <= 3; page++) {
    const res = await gh.fetch(`/users/gen-250/repos?per_page=100&page=${page}`);
    expect(res.status).toBe(200);
    names.push(...((await res.json()) as { name: string }[]).map((r) => r.name));
  }
  expect(names.length).toBe(250);
  expect(new Set(names).size).toBe(250);
  const readme = await gh.fetch(`/repos/gen-250/${names[0]}/readme`, {
    headers: { accept: "application/vnd.github.raw" },
  });
  const expected = new TextDecoder().decode(
    [...generatedUser("gen-250")!.repos.values()].find((r) => r.meta.name === names[0])!.files.get("README.md"),
  );
  if (readme.status === 200) expect(await readme.text()).toBe(expected);
  else expect(readme.status).toBe(404);
  const langs = await gh.fetch(`/repos/gen-250/${names[0]}/languages`);
  expect(Object.keys(await langs.json()).length).toBeGreaterThan(0);
  expect((await gh.fetch("/users/gen-0x/repos")).status).toBe(404);
});
