import { z } from "zod";

/** GitHub's own username rule: alphanumerics and single hyphens, 1–39 chars, no leading hyphen. */
export const USERNAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
/** GitHub repository names: letters, digits, `.`, `-`, `_`, at most 100; never `.` or `..`. */
export const REPO_NAME_RE = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}$/;

export const Username = z
  .string()
  .regex(USERNAME_RE, "must be a GitHub username: 1-39 letters, digits or hyphens, not starting with a hyphen");
export const RepoName = z
  .string()
  .regex(REPO_NAME_RE, "must be a GitHub repository name: 1-100 letters, digits, '.', '-' or '_'");

export function isUsername(s: unknown): s is string {
  return typeof s === "string" && USERNAME_RE.test(s);
}
export function isRepoName(s: unknown): s is string {
  return typeof s === "string" && REPO_NAME_RE.test(s);
}
