/**
 * Guest-side JavaScript evaluated before the payload. It receives the host primitives as a
 * function argument (so they are never reachable as a global) and builds the frozen `teaclave`
 * object the payload sees: `teaclave.open(name, "rb" | "wb")` and `teaclave.log(...)`, and
 * `console.log/info/debug/warn/error`, which write to the same task log.
 */
export const PRELUDE = `(function (host) {
  "use strict";
  function toBuffer(data) {
    if (data instanceof ArrayBuffer) return data;
    if (ArrayBuffer.isView(data)) return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    throw new TypeError("write() takes a string, a typed array or an ArrayBuffer");
  }
  function makeFile(fd, mode, name) {
    var closed = false;
    function check(expected) {
      if (closed) throw new Error("teaclave file " + JSON.stringify(name) + " is closed");
      if (mode !== expected) throw new Error("teaclave file " + JSON.stringify(name) + " is not opened with " + JSON.stringify(expected));
    }
    return Object.freeze({
      name: name,
      mode: mode,
      read: function (size) { check("rb"); return new Uint8Array(host.read(fd, size === undefined ? -1 : size)); },
      readText: function (size) { check("rb"); return host.readText(fd, size === undefined ? -1 : size); },
      write: function (data) {
        check("wb");
        return typeof data === "string" ? host.writeText(fd, data) : host.write(fd, toBuffer(data));
      },
      close: function () { if (closed) return; closed = true; host.close(fd); },
    });
  }
  var teaclave = Object.freeze({
    open: function (name, mode) {
      if (typeof name !== "string") throw new TypeError("teaclave.open: the name must be a string");
      if (mode !== "rb" && mode !== "wb") throw new TypeError("teaclave.open: unsupported mode " + JSON.stringify(mode) + ' (use "rb" or "wb")');
      return makeFile(host.open(name, mode), mode, name);
    },
    log: logLine,
  });
  function logLine() {
    var parts = [];
    for (var i = 0; i < arguments.length; i++) {
      var a = arguments[i];
      parts.push(typeof a === "string" ? a : a instanceof Error ? String(a) : (function () { try { return JSON.stringify(a); } catch (e) { return String(a); } })() ?? String(a));
    }
    host.log(parts.join(" "));
  }
  // console.* writes to the task log too (kept when the task asked for save_log).
  var console = Object.freeze({ log: logLine, info: logLine, debug: logLine, warn: logLine, error: logLine });
  Object.defineProperty(globalThis, "teaclave", { value: teaclave, writable: false, enumerable: false, configurable: false });
  Object.defineProperty(globalThis, "console", { value: console, writable: true, enumerable: false, configurable: true });
})`;
