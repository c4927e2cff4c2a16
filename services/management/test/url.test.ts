import assert from "node:assert/strict";
import { test } from "node:test";
import { CloisterError } from "@cloister/core";
import { normalizeUrl } from "../src/index.js";

const name = (u: string) => {
  try {
    normalizeUrl(u);
    return "ok";
  } catch (e) {
    assert.ok(e instanceof CloisterError && e.code === 3 && e.kind === "INVALID_URL");
    return e.message;
  }
};

test("normalised WHATWG form", () => {
  assert.equal(normalizeUrl("  HTTPS://Example.com:443/a/./b?x#y "), "https://example.com/a/b?x#y");
  assert.equal(normalizeUrl("http://example.com"), "http://example.com/");
  assert.equal(normalizeUrl("data:text/plain,hi"), "data:text/plain,hi");
  assert.equal(
    normalizeUrl("fusion:///TEACLAVE_FUSION_BASE/x.fusion"),
    "fusion:///TEACLAVE_FUSION_BASE/x.fusion",
  );
  assert.equal(normalizeUrl("file:///tmp/a"), "file:///tmp/a");
});

test("legacy error names", () => {
  assert.equal(name("/just/a/path"), "RelativeUrlWithoutBase");
  assert.equal(name("1http://x/"), "RelativeUrlWithoutBase");
  assert.equal(name("http://"), "EmptyHost");
  assert.equal(name("https://:80/"), "EmptyHost");
  assert.equal(name("http://a:65536/"), "InvalidPort");
  assert.equal(name("http://[1:2:3]/"), "InvalidIpv6Address");
  assert.equal(name("http://256.1.1.1/"), "InvalidIpv4Address");
  assert.equal(name("http://a<b/"), "InvalidDomainCharacter");
  assert.equal(name("http://xn--a.com/"), "IdnaError");
});
