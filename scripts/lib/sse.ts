/**
 * Reading a `text/event-stream` body, the one way the scripts do it (the CLI's `--wait`, the demo, bench:load):
 * each event's `data:` lines joined by "\n", per the EventSource rules (a blank line ends an event, a CR before
 * the LF is dropped, one space after the colon is dropped). An event or line past `maxEvent` characters ends
 * the stream with SseLimitError, so a hostile or broken server cannot grow the buffer without bound.
 */

export class SseLimitError extends Error {
  override name = "SseLimitError";
}

const mib = (chars: number) => `${Number((chars / 1_048_576).toFixed(2))} MiB`;

/** The `data:` payloads of a text/event-stream body; the body is cancelled when the reader stops early. */
export async function* sseData(body: ReadableStream<Uint8Array>, maxEvent = 4 * 1024 * 1024): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = "";
  let data: string[] = [];
  let size = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value: chunk } = await reader.read();
      if (done) break;
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, "");
        buf = buf.slice(nl + 1);
        if (line === "") {
          if (data.length) yield data.join("\n");
          data = [];
          size = 0;
        } else if (line.startsWith("data:")) {
          const v = line.slice(5).replace(/^ /, "");
          size += v.length;
          if (size > maxEvent) throw new SseLimitError(`event stream: an event over ${mib(maxEvent)}`);
          data.push(v);
        }
      }
      if (buf.length > maxEvent) throw new SseLimitError(`event stream: a line over ${mib(maxEvent)}`);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
