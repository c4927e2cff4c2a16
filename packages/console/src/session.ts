import type { FileCryptoInfo } from "@cloister/crypto";
import type { CloisterClient } from "@cloister/sdk";

/** One browser's state in the console process. */
export interface ConsoleSession {
  id: string;
  csrf: string;
  client: CloisterClient | undefined;
  user: string | undefined;
  /** Tasks this user created or opened here (the API has no task listing). */
  tasks: Set<string>;
  /** Keys of outputs registered from this session, to decrypt results locally. */
  outputs: Map<string, { info: FileCryptoInfo; path: string; label: string }>;
  lastSeen: number;
}
