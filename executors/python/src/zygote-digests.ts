// SHA-256 of the zygote's Python files (zygote/*.py), which run inside the sandbox and keep one
// task from the next. A service's measurement covers only its packages' compiled JavaScript, so
// these digests bring the Python files under it: a zygote whose files differ is not started.
// test/zygote-digests.test.ts says when they need updating (after an edit of a .py file).
export const ZYGOTE_SHA256: Readonly<Record<string, string>> = {
  "task.py": "c2cddf40c5bd7fd3ad6457b5df34a6b7f7d37301109ced30a7c94f97561ebde3",
  "zygote.py": "4ea3b70f60ead26932798b10b85b3c8217cdc2db306ea03522dcfce44075ad1f",
};
