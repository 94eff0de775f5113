/**
 * A small glossary of developer technology: what a tool, framework,
 * service or language *is*, in plain words. The pretrained word vectors
 * (GloVe, 2014 news and encyclopedia text) know English but not the names of
 * software: "docker" sits next to surnames, "shell" next to oil companies,
 * "csharp" and "laravel" are absent. A person asking for "my container
 * setup" or "code in microsoft's language" uses the plain words; a
 * repository often says only the name (or only shows it as a language). The
 * gloss of each technology a repository names, or is written in, joins the
 * repository's salient words, where the word vectors can match it.
 *
 * Keys are words as `words()` yields them (lower case; "C#" → "csharp",
 * "C++" → "cpp", ".NET" → "dotnet"). The entries cover widely used
 * technology in general, not any one user's; a word that is also everyday
 * English with another meaning ("node", "express", "heap", "babel") is left
 * out, since its gloss would be wrong as often as right.
 */
import { words } from "./tokenizer.ts";
import { CONCEPT_GLOSS } from "./concept-glossary.ts";

/** GitHub linguist language names (lower case) → gloss. */
export const LANGUAGE_GLOSS: Record<string, string> = {
  "c": "low level systems programming language pointers memory",
  "cpp": "systems programming language object oriented",
  "csharp": "microsoft dotnet object oriented programming language",
  "fsharp": "microsoft dotnet functional programming language",
  "java": "object oriented programming language jvm",
  "kotlin": "android jvm programming language",
  "scala": "jvm functional programming language",
  "go": "golang google programming language concurrency",
  "rust": "systems programming language memory safety",
  "swift": "apple ios macos programming language",
  "objective c": "apple ios macos programming language",
  "ruby": "dynamic scripting programming language",
  "php": "server side web scripting language",
  "hack": "php dialect programming language",
  "python": "general purpose scripting programming language",
  "javascript": "web browser scripting language",
  "typescript": "typed javascript programming language",
  "coffeescript": "javascript dialect language",
  "dart": "flutter mobile apps programming language",
  "r": "statistics data analysis language",
  "julia": "scientific numerical computing language",
  "lua": "embedded scripting language",
  "perl": "text processing scripting language",
  "haskell": "functional programming language",
  "elixir": "functional programming language erlang",
  "erlang": "functional concurrent programming language",
  "clojure": "lisp jvm functional language",
  "assembly": "low level machine instructions",
  "shell": "unix command line scripts terminal",
  "powershell": "windows command line scripts automation",
  "batchfile": "windows command scripts",
  "makefile": "build automation compile",
  "cmake": "build configuration compile",
  "dockerfile": "docker container image",
  "hcl": "terraform infrastructure configuration",
  "yaml": "configuration files",
  "json": "structured data format",
  "sql": "relational database queries tables",
  "tsql": "microsoft sql database queries",
  "plpgsql": "postgresql database procedures",
  "plsql": "oracle database procedures",
  "html": "web page markup",
  "css": "web page styles design",
  "scss": "css stylesheets preprocessor",
  "sass": "css stylesheets preprocessor",
  "less": "css stylesheets preprocessor",
  "stylus": "css stylesheets preprocessor",
  "vue": "javascript frontend web framework",
  "svelte": "javascript frontend web framework",
  "astro": "static website framework",
  "blade": "laravel php templates",
  "twig": "php html templates",
  "smarty": "php html templates",
  "ejs": "javascript html templates",
  "pug": "javascript html templates",
  "handlebars": "javascript html templates",
  "jinja": "python html templates",
  "jupyter notebook": "notebooks data analysis python",
  "vim script": "vim text editor plugin",
  "emacs lisp": "emacs text editor plugin",
  "apacheconf": "apache web server configuration",
  "nginx": "web server reverse proxy configuration",
  "procfile": "app hosting process configuration",
  "solidity": "ethereum smart contracts blockchain",
  "mdx": "markdown documents components",
  "tex": "latex typeset documents",
};

/** Words found in a repository's salient text → gloss. */
export const TERM_GLOSS: Record<string, string> = {
  // containers, infrastructure, operations
  docker: "containers container images",
  dockerfile: "docker container image",
  podman: "containers container images",
  kubernetes: "container orchestration cluster pods",
  k8s: "kubernetes container orchestration cluster pods",
  minikube: "local kubernetes cluster",
  helm: "kubernetes package charts",
  terraform: "infrastructure as code provisioning cloud",
  ansible: "configuration management automation servers",
  gitops: "git driven continuous deployment",
  argocd: "git driven continuous deployment kubernetes",
  jenkins: "continuous integration automated builds",
  ci: "continuous integration automated builds tests",
  vmss: "virtual machine scale sets",
  vm: "virtual machine",
  vms: "virtual machines",
  nginx: "web server reverse proxy",
  haproxy: "load balancer",
  systemd: "linux services",
  cron: "scheduled jobs timer",
  prometheus: "monitoring metrics",
  grafana: "monitoring dashboards",
  ssh: "secure remote shell login",
  ngrok: "secure tunnels localhost",
  vpn: "private network tunnel",
  ssl: "encryption certificates secure connection",
  tls: "encryption certificates secure connection",
  dns: "domain names",
  cdn: "content delivery network caching",
  posix: "unix standard",
  gcc: "c compiler",
  valgrind: "memory leak checking",
  bash: "unix shell scripts command line",
  zsh: "unix shell prompt",
  // clouds and hosted services
  azure: "microsoft cloud",
  aws: "amazon cloud",
  gcp: "google cloud",
  serverless: "cloud functions without servers",
  heroku: "app hosting deployment",
  vercel: "app hosting deployment",
  netlify: "website hosting deployment",
  firebase: "google backend database hosting",
  cloudflare: "edge network cdn",
  cosmosdb: "nosql database azure",
  blob: "file storage",
  keyvault: "secrets storage",
  msal: "microsoft login authentication",
  smtp: "email sending",
  sendgrid: "email delivery",
  twilio: "sms messaging",
  stripe: "online payments",
  paypal: "online payments",
  // web frameworks and front ends
  django: "python web framework",
  flask: "python web framework",
  fastapi: "python web api framework",
  uvicorn: "python web server",
  gunicorn: "python web server",
  laravel: "php web framework",
  symfony: "php web framework",
  rails: "ruby web framework",
  nestjs: "node server framework",
  nextjs: "react web framework",
  nuxt: "vue web framework",
  react: "javascript user interface library frontend",
  angular: "typescript frontend web framework",
  vue: "javascript frontend web framework",
  vuejs: "javascript frontend web framework",
  svelte: "javascript frontend web framework",
  jquery: "javascript web page library",
  bootstrap: "css framework responsive layout",
  tailwind: "css utility framework",
  nodejs: "javascript runtime server",
  deno: "javascript runtime",
  npm: "javascript package registry",
  electron: "desktop apps javascript",
  spa: "single page web application",
  pwa: "progressive web app offline",
  dom: "web page elements",
  // data stores and messaging
  redis: "in memory key value store cache",
  memcached: "in memory cache",
  mongodb: "nosql document database",
  mongo: "nosql document database",
  mongoose: "mongodb database models",
  mysql: "relational sql database",
  postgresql: "relational sql database",
  postgres: "relational sql database",
  sqlite: "embedded sql database",
  sqlalchemy: "python database object relational mapping",
  orm: "object relational mapping database",
  nosql: "non relational database",
  elasticsearch: "search engine index",
  graphql: "api query language",
  rest: "web api http endpoints",
  restful: "web api http endpoints",
  rabbitmq: "message queue broker",
  kafka: "message streaming broker",
  celery: "python background task queue",
  websocket: "real time connection",
  websockets: "real time connection",
  tcp: "network protocol connection",
  udp: "network protocol datagrams",
  ipc: "inter process communication messages",
  // security and identity
  jwt: "json web tokens authentication",
  oauth: "delegated login authorization",
  recaptcha: "bot protection human verification",
  captcha: "bot protection human verification",
  bcrypt: "password hashing",
  // ai and data
  openai: "language model ai",
  gpt: "language model ai",
  llm: "large language model ai",
  llama: "language model ai",
  groq: "language model ai inference",
  tensorflow: "machine learning neural networks",
  pytorch: "machine learning neural networks",
  keras: "machine learning neural networks",
  pandas: "data analysis tables",
  numpy: "numerical arrays",
  jupyter: "notebooks data analysis",
  // tooling
  git: "version control",
  github: "code hosting",
  selenium: "browser automation testing",
  puppeteer: "browser automation",
  playwright: "browser automation testing",
  jest: "javascript testing framework",
  mocha: "javascript testing framework",
  jasmine: "javascript testing framework",
  pytest: "python testing framework",
  eslint: "javascript code style checking",
  linter: "code style checking",
  webpack: "javascript bundler build",
  vite: "javascript bundler build",
  rollup: "javascript bundler build",
  gulp: "build task runner",
  grunt: "build task runner",
  sass: "css stylesheets preprocessor",
  scss: "css stylesheets preprocessor",
  markdown: "text formatting documents",
  vim: "text editor",
  vscode: "code editor",
  sublime: "text editor",
  // concepts
  i18n: "internationalization translation languages locale",
  l10n: "localization translation languages",
  lru: "cache eviction least recently used",
  lfu: "cache eviction least frequently used",
  fifo: "queue first in first out",
  lifo: "stack last in first out",
  pagination: "split results into pages",
  oop: "object oriented programming classes",
  crud: "create read update delete records",
  cli: "command line terminal tool",
  tui: "terminal user interface",
  stdin: "standard input",
  stdout: "standard output",
  ios: "iphone mobile apps",
  android: "mobile apps phones",
  macos: "apple mac desktop",
  dmg: "mac disk image installer",
  svg: "vector graphics image",
  mime: "file type",
  glob: "file path pattern matching wildcards",
  uuid: "unique identifier",
  bst: "binary search tree",
  avl: "self balancing binary search tree",
  slugify: "url friendly text",
  memoize: "cache function results",
  dotenv: "environment variables configuration",
  spdx: "software license identifiers",
};

/** Share of a repository's language bytes from which a language's gloss applies. */
export const LANGUAGE_MIN_SHARE = 0.1;

/**
 * The gloss text for a repository: the glosses of the languages it is
 * written in (by share of bytes, at least LANGUAGE_MIN_SHARE; the primary
 * language always) and of the technology words in `text` (its salient text),
 * else of its programming-concept words (concept-glossary.ts).
 * Each gloss once; "" when nothing is known.
 */
export function techGloss(
  text: string,
  languages: Record<string, number> | null | undefined,
  primary?: string | null,
): string {
  return glossParts(text, languages, primary).gloss;
}

/**
 * techGloss's text (`gloss`) and, apart, the concept glossary's part of it
 * (`concepts`: each concept gloss once, in the order its words appear), from
 * one pass over the text's words.
 */
export function glossParts(
  text: string,
  languages: Record<string, number> | null | undefined,
  primary?: string | null,
): { gloss: string; concepts: string } {
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (g: string | undefined) => {
    if (g && !seen.has(g)) {
      seen.add(g);
      out.push(g);
    }
  };
  const concepts = new Set<string>();
  const langs = Object.entries(languages ?? {});
  const total = langs.reduce((s, [, n]) => s + (n > 0 ? n : 0), 0);
  const names = langs.filter(([, n]) => total > 0 && n / total >= LANGUAGE_MIN_SHARE).map(([l]) => l);
  if (primary) names.unshift(primary);
  for (const l of names) add(LANGUAGE_GLOSS[languageKey(l)]);
  for (const w of new Set(words(text))) {
    if (Object.hasOwn(TERM_GLOSS, w)) add(TERM_GLOSS[w]);
    else if (Object.hasOwn(CONCEPT_GLOSS, w)) {
      add(CONCEPT_GLOSS[w]);
      concepts.add(CONCEPT_GLOSS[w]);
    }
  }
  return { gloss: out.join(". "), concepts: [...concepts].join(". ") };
}

/**
 * A linguist language name as a LANGUAGE_GLOSS key ("C#" → "csharp", "Objective-C" → "objective c",
 * "JavaScript" → "javascript": lower-cased first, so a camel-case name stays one word).
 */
export function languageKey(name: string): string {
  return words(name.toLowerCase()).join(" ");
}
