/**
 * What of an error may leave the process. Logs and DLQ entries get the
 * message with URLs reduced to scheme and host (a path or query may carry a
 * token, userinfo a password) and credential-looking fields blanked; a job's
 * `error` — shown to anyone who polls the job — also loses file paths and
 * addresses (publicError).
 */

const URL_RE = /\b([a-z][a-z0-9+.-]{1,15}):\/\/([^\s"'<>()\\]+)/gi;
const SECRET_FIELD_RE =
  /\b(AccountKey|SharedAccessSignature|sig|password|passwd|pwd|token|secret|api[_-]?key|access[_-]?token|authorization)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s;,&"']+)/gi;
const PATH_RE = /(?:[A-Za-z]:)?(?:\/[\w.@~+-]+){2,}\/?/g;

/** The text with URLs cut to scheme://host and credential fields blanked. */
export function redactText(text: string): string {
  return text
    .replace(URL_RE, (_m, scheme: string, rest: string) => {
      const hostPart = rest.split(/[/?#]/)[0];
      const host = hostPart.includes("@") ? hostPart.slice(hostPart.lastIndexOf("@") + 1) : hostPart;
      return `${scheme}://${host}`;
    })
    .replace(SECRET_FIELD_RE, (_m, name: string, sep: string) => `${name}${sep}<redacted>`);
}

const IP_RE = /\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b|\[[0-9a-f:.]+\](?::\d+)?/gi;

/**
 * The message a job's `error` may carry: redacted as for logs, with file
 * paths and IP addresses replaced, at most 300 characters. Our own errors
 * keep their wording (it names the cause: "GitHub user not found"); a
 * library's text loses what points inside.
 */
export function publicError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const safe = redactText(text).replace(PATH_RE, "<path>").replace(IP_RE, "<address>").replace(/\s+/g, " ").trim();
  if (!safe) return "internal error";
  return safe.length > 300 ? safe.slice(0, 299) + "…" : safe;
}
