import assert from "node:assert/strict";
import { RequestHistogram } from "../../gateway/request-histogram.ts";

Deno.test("request histogram: cumulative buckets, +Inf, sum and count per label set, escaped labels", () => {
  const h = new RequestHistogram("x_seconds", "help text", [0.01, 0.1, 1]);
  assert.equal(h.render(), "");
  h.observe("GET", "/a", 200, 0.005);
  h.observe("GET", "/a", 200, 0.01); // on a bound: counted in that bucket (le = less or equal)
  h.observe("GET", "/a", 200, 0.5);
  h.observe("GET", "/a", 200, 7);
  h.observe("POST", 'we"ird\\', 500, 0.2);
  const text = h.render();
  const lines = text.trimEnd().split("\n");
  assert.equal(lines[0], "# HELP x_seconds help text");
  assert.equal(lines[1], "# TYPE x_seconds histogram");
  const a = 'method="GET",route="/a",status="200"';
  assert.ok(lines.includes(`x_seconds_bucket{le="0.01",${a}} 2`));
  assert.ok(lines.includes(`x_seconds_bucket{le="0.1",${a}} 2`));
  assert.ok(lines.includes(`x_seconds_bucket{le="1",${a}} 3`));
  assert.ok(lines.includes(`x_seconds_bucket{le="+Inf",${a}} 4`));
  assert.ok(lines.includes(`x_seconds_count{${a}} 4`));
  assert.ok(lines.includes(`x_seconds_sum{${a}} 7.515`));
  assert.ok(lines.includes(`x_seconds_count{method="POST",route="we\\"ird\\\\",status="500"} 1`));
  assert.ok(text.endsWith("\n"));
});

Deno.test("request histogram: label sets beyond the bound are not recorded", () => {
  const h = new RequestHistogram("y", "h", [1], 2);
  h.observe("GET", "/1", 200, 0.1);
  h.observe("GET", "/2", 200, 0.1);
  h.observe("GET", "/3", 200, 0.1);
  h.observe("GET", "/1", 200, 0.1);
  const text = h.render();
  assert.match(text, /y_count\{method="GET",route="\/1",status="200"\} 2/);
  assert.doesNotMatch(text, /route="\/3"/);
});
