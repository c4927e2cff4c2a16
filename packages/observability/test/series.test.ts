import assert from "node:assert/strict";
import { test } from "node:test";
import { Counter, Histogram, Registry } from "prom-client";
import { SeriesCounter, SeriesHistogram } from "../src/index.js";

const BUCKETS = [0.001, 0.01, 0.1, 1];

/** Two registries fed the same observations: ours and prom-client's own metrics. */
function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  for (const r of [ours, theirs]) r.setDefaultLabels({ service: "test" });
  const labelNames = ["method", "code"] as const;
  const h = { name: "x_seconds", help: "latency", labelNames, buckets: BUCKETS };
  const c = { name: "x_total", help: "calls", labelNames };
  return {
    ours,
    theirs,
    oursH: new SeriesHistogram({ ...h, registers: [ours] }),
    theirsH: new Histogram({ ...h, registers: [theirs] }),
    oursC: new SeriesCounter({ ...c, registers: [ours] }),
    theirsC: new Counter({ ...c, registers: [theirs] }),
  };
}

test("the exposition is prom-client's for the same observations (buckets, +Inf, sum, count, labels)", async () => {
  const m = pair();
  const values = [0, 0.0005, 0.001, 0.002, 0.05, 0.5, 1, 3, 120, 1e-9];
  const sets = [
    { method: "A/Get", code: "OK" },
    { method: "A/Get", code: "NOT_FOUND" },
    { method: 'B/"quoted"\\', code: "OK" },
  ];
  values.forEach((v, i) => {
    const labels = sets[i % sets.length]!;
    m.oursH.child(labels).observe(v);
    m.theirsH.observe(labels, v);
    m.oursC.child(labels).inc();
    m.theirsC.inc(labels);
  });
  m.oursC.child(sets[0]!).inc(2.5);
  m.theirsC.inc(sets[0]!, 2.5);
  assert.equal(await m.ours.metrics(), await m.theirs.metrics());
  assert.deepEqual(await m.ours.getMetricsAsJSON(), await m.theirs.getMetricsAsJSON());
});

test("a child is resolved once per label set; series never observed are not exported", async () => {
  const m = pair();
  const a = m.oursH.child({ method: "A", code: "OK" });
  assert.equal(m.oursH.child({ code: "OK", method: "A" }), a, "same series whatever the key order");
  m.oursH.child({ method: "B", code: "OK" });
  a.observe(0.002);
  const text = await m.ours.metrics();
  assert.match(text, /x_seconds_count\{service="test",method="A",code="OK"\} 1/);
  assert.doesNotMatch(text, /method="B"/);
});

test("unknown labels, bad values and reset behave like prom-client", async () => {
  const m = pair();
  assert.throws(() => m.oursH.child({ method: "A", other: "x" }));
  assert.throws(
    () => new SeriesHistogram({ name: "y", help: "y", labelNames: ["le"], buckets: BUCKETS, registers: [] }),
  );
  const s = m.oursH.child({ method: "A", code: "OK" });
  assert.throws(() => s.observe(Number.NaN), TypeError);
  assert.throws(() => m.oursC.child({ method: "A", code: "OK" }).inc(-1));
  s.observe(0.5);
  m.ours.resetMetrics();
  assert.doesNotMatch(await m.ours.metrics(), /method="A"/);
  s.observe(0.5);
  assert.match(
    await m.ours.metrics(),
    /x_seconds_count\{service="test",method="A",code="OK"\} 1/,
    "a kept child still counts",
  );
});
