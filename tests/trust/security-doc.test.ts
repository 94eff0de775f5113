/**
 * SECURITY.md names the test behind each line: in the sections on who may
 * call what, bounded use, callbacks and what is public or logged, every
 * table row and bullet cites a test file that exists, and every quoted test
 * name ("scoped keys", "the gateway let through … refused at delivery") is
 * found in one of the files that line cites.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../support/paths.ts";

const md = readFileSync(join(repoRoot, "SECURITY.md"), "utf8");

/** Section title → its rows and bullets, each with its continuation lines joined. */
function units(): { section: string; text: string }[] {
  const out: { section: string; text: string }[] = [];
  let section = "";
  let open = false;
  for (const line of md.split("\n")) {
    if (line.startsWith("## ")) {
      section = line.slice(3).trim();
      open = false;
    } else if (/^(\| |- )/.test(line)) {
      out.push({ section, text: line });
      open = true;
    } else if (!line.trim() || !open || !/^\s/.test(line)) open = false;
    else out[out.length - 1].text += " " + line.trim();
  }
  return out;
}

const CITED_SECTIONS = ["Who may call what", "Callbacks (status webhooks)", "What is public, what is logged"];

test("every rule line cites an existing test file, and each quoted test name is in a file it cites", () => {
  const rules = units().filter((u) =>
    CITED_SECTIONS.includes(u.section) && !/^\|\s*(caller|---)/.test(u.text) && !/^\|[-| ]+\|$/.test(u.text)
  );
  expect(rules.length).toBeGreaterThan(15);
  let quotes = 0;
  for (const { text } of rules) {
    const files = [...text.matchAll(/`(tests\/[^`\s]+\.ts)`/g)].map((m) => m[1]);
    expect({ line: text.slice(0, 80), cites: files.length > 0 }).toEqual({ line: text.slice(0, 80), cites: true });
    for (const f of files) {
      expect({ file: f, exists: existsSync(join(repoRoot, f)) }).toEqual({ file: f, exists: true });
    }
    const sources = files.map((f) => readFileSync(join(repoRoot, f), "utf8").toLowerCase());
    // Quoted names outside code spans.
    for (const [, name] of text.replace(/`[^`]*`/g, "``").matchAll(/"([^"]+)"/g)) {
      const parts = name.split("…").map((p) => p.trim().toLowerCase()).filter(Boolean);
      const found = sources.some((src) => parts.every((p) => src.includes(p)));
      expect({ name, in: files, found }).toEqual({ name, in: files, found: true });
      quotes++;
    }
  }
  expect(quotes).toBeGreaterThan(15);
});
