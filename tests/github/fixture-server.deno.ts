import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { githubFixturesDir } from "../support/paths.ts";
import { startFixtureServer } from "../support/fixture-server.ts";
import { startFixtureServer as startInProcess } from "../../scripts/github-fixture-server.ts";

const reposJson = (owner: string) => JSON.parse(readFileSync(join(githubFixturesDir, owner, "repos.json"), "utf8"));

/** Follows rel="next" links until the last page. */
async function listAll(url: string): Promise<{ name: string }[]> {
  const out: { name: string }[] = [];
  let next: string | undefined = url;
  while (next) {
    const res: Response = await fetch(next);
    assert.equal(res.status, 200);
    out.push(...(await res.json()));
    next = res.headers.get("link")?.match(/<([^>]+)>;\s*rel="next"/)?.[1];
  }
  return out;
}

Deno.test("fixture server (child process via tests/support) lists yungryce's repos with fetch", async () => {
  const srv = await startFixtureServer();
  try {
    const repos = await listAll(`${srv.url}/users/yungryce/repos?per_page=20`);
    assert.equal(repos.length, 48);
    assert.deepEqual(repos.map((r) => r.name), reposJson("yungryce").map((r: { name: string }) => r.name));
    const s = await srv.stats();
    assert.equal(s.list, 3);
    assert.equal(s.total, 3);
  } finally {
    await srv.stop();
  }
});

Deno.test("the server module also runs in-process under Deno (node:http)", async () => {
  const srv = await startInProcess({ port: 0 });
  try {
    const res = await fetch(`${srv.url}/repos/yungryce/AirBnB_clone_v2/contents/.repo-context.json`);
    assert.equal(res.status, 200);
    const etag = res.headers.get("etag")!;
    const body = await res.json();
    const want = readFileSync(join(githubFixturesDir, "yungryce", "AirBnB_clone_v2", ".repo-context.json"));
    assert.deepEqual(new Uint8Array(Buffer.from(body.content, "base64")), new Uint8Array(want));
    const again = await fetch(`${srv.url}/repos/yungryce/AirBnB_clone_v2/contents/.repo-context.json`, {
      headers: { "if-none-match": etag },
    });
    assert.equal(again.status, 304);
    await again.body?.cancel();
    const missing = await fetch(`${srv.url}/users/no-such-user-xyz/repos`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).message, "Not Found");
  } finally {
    await srv.close();
  }
});
