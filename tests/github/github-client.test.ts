import { describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import { GithubClient } from "../../workers/github/github-client.ts";
import { startFixtureServer } from "../support/fixture-server.ts";

/** A port nothing listens on: bound once, then closed. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe("GitHub client errors", () => {
  test("no answer at all (connection refused) says GitHub is unreachable and why, not '500'", async () => {
    const gh = new GithubClient({ baseUrl: `http://127.0.0.1:${await deadPort()}`, transientRetries: 0 });
    const err = await gh.request("GET /users/{username}/repos", { username: "octocat" }, {
      what: "the repositories of octocat",
    })
      .then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toStartWith("GitHub unreachable for the repositories of octocat: ");
    expect(err!.message).not.toContain("GitHub 500");
    expect(err!.message).toMatch(/ECONNREFUSED|refused|fetch failed|Unable to connect/i);
  });

  test("a real 5xx answer is still reported with its status", async () => {
    const fx = await startFixtureServer({ failRate: 1 });
    try {
      const gh = new GithubClient({ baseUrl: fx.url, transientRetries: 0 });
      const err = await gh.request("GET /users/{username}/repos", { username: "yungryce" }, { what: "the list" })
        .then(() => null, (e: Error) => e);
      expect(err!.message).toMatch(/^GitHub 5\d\d for the list$/);
    } finally {
      await fx.stop();
    }
  });
});
