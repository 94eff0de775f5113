import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../shared/config.ts";
import { ConfigError, InvalidNameError } from "../../shared/errors.ts";
import { redisKeys, storageKeys } from "../../shared/keys.ts";
import { AiBody, describeZodError, RefreshBody } from "../../shared/schemas/api.ts";
import { JobRecord, PlanMessage } from "../../shared/schemas/job.ts";
import { isRepoName, isUsername } from "../../shared/schemas/names.ts";
import { GithubRepo, metadataFromGithub, RepoMetadata } from "../../shared/schemas/repo.ts";
import { githubFixturesDir } from "../support/paths.ts";

describe("schemas accept fixture-shaped data", () => {
  for (const owner of ["yungryce", "sindresorhus"]) {
    test(`every repo of ${owner}/repos.json parses and maps to record metadata`, () => {
      const repos = JSON.parse(readFileSync(join(githubFixturesDir, owner, "repos.json"), "utf8"));
      expect(repos.length).toBeGreaterThan(40);
      for (const r of repos) {
        const gh = GithubRepo.parse(r);
        expect(isRepoName(gh.name)).toBe(true);
        const meta = RepoMetadata.parse(metadataFromGithub(gh));
        expect(meta.html_url).toBe(r.html_url);
        expect(meta.default_branch).toBe(r.default_branch);
      }
    });
  }
});

describe("schemas reject malformed input with messages that name the field", () => {
  test("refresh body: wrong type and unknown field", () => {
    const a = RefreshBody.safeParse({ force_refresh: "yes" });
    expect(a.success).toBe(false);
    expect(describeZodError(a.error!)).toContain("force_refresh");
    const b = RefreshBody.safeParse({ force_refresh: true, extra: 1 });
    expect(b.success).toBe(false);
    expect(describeZodError(b.error!)).toContain("extra");
    const c = RefreshBody.safeParse({ callback_url: "ftp://example.test/x" });
    expect(c.success).toBe(false);
    expect(describeZodError(c.error!)).toContain("callback_url");
    expect(RefreshBody.parse({})).toEqual({ force_refresh: false });
  });

  test("ai body: empty query, bad username, limit out of range", () => {
    const r = AiBody.safeParse({ query: "   ", username: "-bad", limit: 500 });
    expect(r.success).toBe(false);
    const msg = describeZodError(r.error!);
    expect(msg).toContain("query");
    expect(msg).toContain("username");
    expect(msg).toContain("limit");
  });

  test("job record and plan message", () => {
    expect(JobRecord.safeParse({ job_id: "x", username: "u", state: "nope" }).success).toBe(false);
    const p = PlanMessage.safeParse({ job_id: "j", username: "../etc" });
    expect(p.success).toBe(false);
    expect(describeZodError(p.error!)).toContain("username");
  });
});

describe("names and keys", () => {
  test("GitHub's username rule", () => {
    for (const ok of ["a", "yungryce", "Octo-Cat", "a".repeat(39)]) expect(isUsername(ok)).toBe(true);
    for (const bad of ["", "-a", "a".repeat(40), "a/b", "..", "a b", "a_b", "ü"]) expect(isUsername(bad)).toBe(false);
  });

  test("keys never escape their prefix", () => {
    expect(storageKeys.repo("YungRyce", "AirBnB_clone")).toBe("repos/yungryce/AirBnB_clone.json");
    expect(() => storageKeys.repo("yungryce", "..")).toThrow(InvalidNameError);
    expect(() => storageKeys.repo("..%2f..", "x")).toThrow(InvalidNameError);
    expect(() => storageKeys.repo("u", "a/b")).toThrow(InvalidNameError);
    expect(() => storageKeys.bundle("u", "../current")).toThrow(InvalidNameError);
    expect(() => redisKeys("fs").job("a:b")).toThrow(InvalidNameError);
  });
});

describe("config from the environment", () => {
  test("defaults", () => {
    const cfg = loadConfig({});
    expect(cfg.PORT).toBe(8787);
    expect(cfg.STORAGE_BACKEND).toBe("local");
    expect(cfg.SYNC_CONCURRENCY).toBeGreaterThanOrEqual(16);
  });

  test("a bad value fails with a message naming the variable", () => {
    expect(() => loadConfig({ PORT: "eighty" })).toThrow(/PORT/);
    expect(() => loadConfig({ STORAGE_BACKEND: "s3" })).toThrow(/STORAGE_BACKEND/);
    expect(() => loadConfig({ REDIS_URL: "localhost:6379" })).toThrow(/REDIS_URL/);
    expect(() => loadConfig({ SYNC_CONCURRENCY: "0" })).toThrow(/SYNC_CONCURRENCY/);
    expect(() => loadConfig({ STORAGE_BACKEND: "gcs" })).toThrow(/GCS_BUCKET/);
    expect(() => loadConfig({ STORAGE_BACKEND: "azure" })).toThrow(ConfigError);
  });
});
