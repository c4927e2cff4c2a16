// The browser side of the console's JSON API: same-origin fetches carrying the CSRF token.
const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T = Record<string, unknown>>(
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<T> {
  const r = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: method === "POST" ? { "content-type": "application/json", "x-csrf-token": csrf } : {},
    ...(method === "POST" ? { body: JSON.stringify(body ?? {}) } : {}),
  });
  const data = (await r.json()) as { error?: { code: string; message: string } };
  if (!r.ok) throw new ApiError(data.error?.code ?? "error", data.error?.message ?? `HTTP ${r.status}`);
  return data as T;
}

export async function fileToBase64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
