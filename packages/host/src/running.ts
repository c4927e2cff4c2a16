/** A started service: where it listens and how to stop it. */
export interface RunningService {
  endpoints: Array<{ name: string; address: string }>;
  close(): Promise<void>;
}

/** `0.0.0.0:7777` with the bound port (listen may pick one when the port is 0). */
export function boundAddress(listen: string, port: number): string {
  return `${listen.slice(0, listen.lastIndexOf(":"))}:${port}`;
}
