/**
 * Runtime images the LibOS executor offers: each is the Debian packages' files (and the shared
 * libraries their ELF files load) plus the guest agent, nothing else. A function names one in its
 * manifest; the image's measurement is what data owners find in runtime_info.toml.
 */
export interface RuntimeRecipe {
  /** Debian packages whose files (and dependencies' files) make the image. */
  packages: string[];
  /** Host paths added on top (symlinks are recreated and followed). */
  paths: string[];
  /** How a single-file payload (`/app/main`) runs when there is no manifest. */
  defaultCommand: string[];
  /** Literal environment every payload of this runtime gets (owners add their own). */
  env: Record<string, string>;
  /** A warm interpreter the agent starts at boot (python3: numpy imported before the task). */
  zygote?: boolean;
}

const JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64";

export const RUNTIMES = {
  static: { packages: [], paths: [], defaultCommand: ["/app/main"], env: {} },
  python3: {
    packages: [
      "python3.11-minimal",
      "libpython3.11-stdlib",
      "python3-numpy",
      "python3-scipy",
      "python3-pandas",
    ],
    paths: ["/usr/bin/python3", "/usr/bin/python3.11"],
    defaultCommand: ["/usr/bin/python3", "/app/main"],
    // The root is read-only; the images keep Debian's byte-compiled modules.
    env: { PYTHONDONTWRITEBYTECODE: "1", OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1" },
    zygote: true,
  },
  java: {
    packages: ["openjdk-17-jre-headless"],
    paths: [`${JAVA_HOME}/bin/java`],
    defaultCommand: [
      `${JAVA_HOME}/bin/java`,
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      "-jar",
      "/app/main",
    ],
    env: { JAVA_HOME },
  },
} as const satisfies Record<string, RuntimeRecipe>;

export type RuntimeName = keyof typeof RUNTIMES;
export const RUNTIME_NAMES = Object.keys(RUNTIMES) as RuntimeName[];

export const isRuntimeName = (s: string): s is RuntimeName => Object.hasOwn(RUNTIMES, s);
