/**
 * What of an error may leave the process. Logs and DLQ entries get the
 * message with URLs reduced to scheme and host (a path or query may carry a
 * token, userinfo a password) and credential-looking fields blanked; a job's
 * `error` — shown to anyone who polls the job — gets a code plus a safe
 * message: our own typed errors keep their (redacted) message, anything else
 * (a storage SDK's or the runtime's text, with its paths and addresses) is
 * summarised as an internal error.
 */
import { FoliosyncError } from "./errors.ts";

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

const snake = (s: string) => s.replace(/Error$/, "").replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase() || "error";

/** `code: message` for a job's `error` field. */
export function publicError(err: unknown, context = ""): string {
  const pre = context ? `${context}: ` : "";
  if (err instanceof FoliosyncError) {
    const msg = redactText(err.message).replace(PATH_RE, "<path>").slice(0, 300);
    return `${snake(err.name)}: ${pre}${msg}`;
  }
  return `internal: ${pre}an internal error occurred (details are in the worker log)`;
}
