export * from "./names.ts";
export * from "./repo.ts";
export * from "./bundle.ts";
export * from "./job.ts";
export * from "./api.ts";
