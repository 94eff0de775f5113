import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "./free-port.ts";
import { binDir } from "./paths.ts";
import { type Managed, startProcess } from "./process.ts";

/** Azurite's published development account (not a secret: it is in Microsoft's docs). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuriteServer {
  port: number;
  blobEndpoint: string;
  connectionString: string;
  /** Stops the process (an outage). The port stays reserved for start(). */
  stop(): Promise<void>;
  /** Starts it again on the same port after stop(). Data survives only with `persistent: true`. */
  start(): Promise<void>;
  /** stop() + start(). */
  restart(): Promise<void>;
  /** Stops it and removes its data dir (call once, at the end). */
  dispose(): Promise<void>;
  /** Its log so far (for failure messages). */
  output(): string;
}

export interface AzuriteOptions {
  /** A fixed port (default: a free one). */
  port?: number;
  /** Keep blobs in a temp dir (--location) instead of memory, so a restart keeps them. */
  persistent?: boolean;
}

/**
 * A private azurite-blob on 127.0.0.1 (in memory by default), with the flags
 * the SDK needs: --skipApiVersionCheck (the SDK's API version is newer than
 * Azurite's) and --loose. Nothing is left behind: the process is killed at
 * exit at the latest (tests/support/process.ts).
 */
export async function startAzurite(opts: AzuriteOptions = {}): Promise<AzuriteServer> {
  const port = opts.port ?? (await freePort());
  const workDir = mkdtempSync(join(tmpdir(), "foliosync-azurite-"));
  const args = [
    "--blobHost",
    "127.0.0.1",
    "--blobPort",
    String(port),
    "--disableTelemetry",
    "--skipApiVersionCheck",
    "--loose",
    "--silent",
    ...(opts.persistent ? ["--location", workDir] : ["--inMemoryPersistence"]),
  ];
  let proc: Managed | null = null;
  const start = async () => {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) return;
    const p = startProcess(join(binDir, "azurite-blob"), args, { cwd: workDir });
    proc = p;
    try {
      await Promise.race([
        waitForPort(port, 20_000),
        p.exited.then((code) => {
          throw new Error(`azurite-blob exited with ${code}`);
        }),
      ]);
    } catch (err) {
      await p.stop(500);
      throw new Error(`azurite did not start on ${port}: ${(err as Error).message}\n${p.output().slice(-2000)}`);
    }
  };
  const stop = async () => {
    await proc?.stop(2000);
  };
  await start().catch((err) => {
    rmSync(workDir, { recursive: true, force: true });
    throw err;
  });
  const blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return {
    port,
    blobEndpoint,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`,
    stop,
    start,
    restart: async () => {
      await stop();
      await start();
    },
    dispose: async () => {
      await stop();
      rmSync(workDir, { recursive: true, force: true });
    },
    output: () => proc?.output() ?? "",
  };
}
