import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { CascadeError, parseHaarCascade } from "../src/kernels/haar-cascade.js";
import { integrals } from "../src/kernels/integral.js";
import { scan } from "../src/kernels/viola-jones.js";
import { parseXml, XmlError } from "../src/kernels/xml.js";

const OPENCV_DATA = "/usr/share/opencv4/haarcascades/";

/** A one-stage cascade over an 8×8 window with one tilted feature: a small diamond minus its surround. */
const TILTED_CASCADE = `<?xml version="1.0"?>
<!-- test cascade -->
<opencv_storage>
<cascade type_id="opencv-cascade-classifier"><stageType>BOOST</stageType>
  <featureType>HAAR</featureType><height>8</height><width>8</width>
  <stages><_><maxWeakCount>1</maxWeakCount><stageThreshold>0.5</stageThreshold>
    <weakClassifiers><_><internalNodes>0 -1 0 0.1</internalNodes><leafValues>-1. 1.</leafValues></_></weakClassifiers></_></stages>
  <features><_><rects><_>4 0 4 4 -1.</_><_>4 2 2 2 4.</_></rects><tilted>1</tilted></_></features>
</cascade>
</opencv_storage>`;

describe("Haar cascade machinery", () => {
  it("builds the rotated summed-area table of its definition", () => {
    const W = 9;
    const H = 8;
    const img = Uint8Array.from({ length: W * H }, (_, i) => (i * 37 + 11) % 251);
    const { tilted, sum, stride } = integrals(img, W, H, true);
    for (let Y = 0; Y <= H; Y++) {
      for (let X = 0; X <= W; X++) {
        let t = 0;
        let s = 0;
        for (let y = 0; y < Y; y++) {
          for (let x = 0; x < W; x++) {
            const v = img[y * W + x] as number;
            if (Math.abs(x - X + 1) <= Y - 1 - y) t += v;
            if (x < X) s += v;
          }
        }
        assert.equal(tilted?.[Y * stride + X], t, `tilted(${X},${Y})`);
        assert.equal(sum[Y * stride + X], s, `sum(${X},${Y})`);
      }
    }
  });

  it("reads every OpenCV cascade in opencv-data that uses its format", () => {
    let read = 0;
    for (const f of readdirSync(OPENCV_DATA)) {
      const xml = readFileSync(OPENCV_DATA + f, "utf8");
      if (!xml.includes('type_id="opencv-cascade-classifier"') || !xml.includes("<featureType>HAAR"))
        continue;
      const c = parseHaarCascade(xml);
      assert.ok(c.stageThreshold.length > 0 && c.nodeFeature.length > 0, f);
      read++;
    }
    assert.ok(read >= 10, `${read} cascades read`);
    const alt2 = parseHaarCascade(readFileSync(`${OPENCV_DATA}haarcascade_frontalface_alt2.xml`, "utf8"));
    assert.deepEqual(
      [alt2.width, alt2.height, alt2.stageThreshold.length, alt2.hasTilted],
      [20, 20, 20, false],
    );
  });

  it("rejects malformed files", () => {
    assert.throws(() => parseXml("<a><b></a>"), XmlError);
    assert.throws(() => parseXml("<a>&amp;</a>"), XmlError);
    assert.throws(() => parseHaarCascade("<opencv_storage></opencv_storage>"), CascadeError);
    // A rectangle reaching outside the window would read outside the image.
    assert.throws(() => parseHaarCascade(TILTED_CASCADE.replace("4 2 2 2 4.", "7 2 2 2 4.")), CascadeError);
    assert.throws(() => parseHaarCascade(TILTED_CASCADE.replace("0 -1 0 0.1", "0 -1 5 0.1")), CascadeError);
  });

  it("evaluates tilted features where the diamond they describe lies", () => {
    const cascade = parseHaarCascade(TILTED_CASCADE);
    assert.equal(cascade.hasTilted, true);
    // The small tilted rectangle (4, 2, 2, 2) covers rows 2–5 of the window: columns 3 / 2–4 /
    // 2–4 / 3. Paint that diamond bright at window (12, 10) of a dark image.
    const W = 32;
    const img = new Uint8Array(W * W);
    for (const [dx, dy] of [
      [3, 2],
      [2, 3],
      [3, 3],
      [4, 3],
      [2, 4],
      [3, 4],
      [4, 4],
      [3, 5],
    ] as const) {
      img[(10 + dy) * W + 12 + dx] = 255;
    }
    const hits = scan({ width: W, height: W, data: img }, cascade, {
      minSize: 8,
      maxSize: 8,
      scaleStep: 1.25,
      stepX: 1,
      stepY: 1,
    });
    assert.ok(
      hits.some((h) => h.x === 12 && h.y === 10 && h.width === 8),
      JSON.stringify(hits),
    );
    for (const h of hits)
      assert.ok(Math.abs(h.x - 12) <= 2 && Math.abs(h.y - 10) <= 2, `stray hit ${JSON.stringify(h)}`);
    const flat = scan({ width: W, height: W, data: new Uint8Array(W * W).fill(90) }, cascade, {
      minSize: 8,
      scaleStep: 1.25,
      stepX: 1,
      stepY: 1,
    });
    assert.deepEqual(flat, []);
  });
});
