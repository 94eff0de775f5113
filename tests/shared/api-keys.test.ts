import { expect, test } from "bun:test";
import { parseApiKeys, scopeCovers } from "../../shared/auth/api-keys.ts";

test("API_KEYS: KEY:SCOPE entries; a key is a bearer token (= only as trailing padding)", () => {
  const keys = parseApiKeys("k1-aaaaaaaa:alice|Bob, dGVzdGtleQ==:*");
  expect(keys.map((k) => k.key)).toEqual(["k1-aaaaaaaa", "dGVzdGtleQ=="]);
  expect(scopeCovers(keys[0].scope, "bob")).toBe(true);
  expect(scopeCovers(keys[0].scope, "carol")).toBe(false);
  expect(scopeCovers(keys[1].scope, "anyone")).toBe(true);
  for (const bad of ["abc=def12345:*", "short:*", "with space1:*", "nokeyscope"]) {
    let message = "";
    try {
      parseApiKeys(bad);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^entry 1/);
    // The error never quotes the key.
    expect(message).not.toContain(bad.split(":")[0]);
  }
});
