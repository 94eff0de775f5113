/** A small server-sent-events reader for tests (fetch + stream parsing). */
export interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
  /** `: ping` style comments. */
  comment?: string;
  retry?: number;
}

export interface SseStream {
  response: Response;
  /** Next event (or comment); null when the stream ended. Rejects after timeoutMs. */
  next(timeoutMs?: number): Promise<SseEvent | null>;
  /** Next event with data parsed as JSON (comments and retry lines skipped); null at end. */
  // deno-lint-ignore no-explicit-any -- tests read arbitrary event bodies field by field; each assertion checks what it reads
  nextData<T = any>(timeoutMs?: number): Promise<T | null>;
  close(): Promise<void>;
}

export async function openSse(url: string, init: RequestInit = {}): Promise<SseStream> {
  const ac = new AbortController();
  const response = await fetch(url, {
    ...init,
    signal: ac.signal,
    headers: { accept: "text/event-stream", ...init.headers },
  });
  const reader = response.body?.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let ended = !reader;
  const queue: SseEvent[] = [];

  const parseBlock = (block: string) => {
    const ev: SseEvent = {};
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) ev.comment = line.slice(1).trim();
      else {
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "data") ev.data = ev.data === undefined ? value : ev.data + "\n" + value;
        else if (field === "id") ev.id = value;
        else if (field === "event") ev.event = value;
        else if (field === "retry") ev.retry = Number(value);
      }
    }
    queue.push(ev);
  };

  const next = async (timeoutMs = 5000): Promise<SseEvent | null> => {
    const deadline = Date.now() + timeoutMs;
    while (queue.length === 0) {
      if (ended) return null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, rej) => {
        timer = setTimeout(
          () => rej(new Error(`no SSE event within ${timeoutMs} ms`)),
          Math.max(1, deadline - Date.now()),
        );
      });
      try {
        const { done, value } = await Promise.race([reader!.read(), timeout]);
        if (done) {
          ended = true;
          if (buf.trim()) parseBlock(buf.trim());
          buf = "";
          break;
        }
        buf += dec.decode(value, { stream: true });
        let idx: number;
        while ((idx = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, idx);
          buf = buf.slice(idx + 2);
          if (block.length) parseBlock(block);
        }
      } finally {
        clearTimeout(timer);
      }
    }
    return queue.shift() ?? null;
  };

  return {
    response,
    next,
    async nextData(timeoutMs = 5000) {
      for (;;) {
        const ev = await next(timeoutMs);
        if (ev === null) return null;
        if (ev.data !== undefined) return JSON.parse(ev.data);
      }
    },
    async close() {
      ac.abort();
      await reader?.cancel().catch(() => {});
      if (!reader) await response.body?.cancel().catch(() => {});
    },
  };
}
