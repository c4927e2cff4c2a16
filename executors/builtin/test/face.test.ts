import assert from "node:assert/strict";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DEFAULT_LIMITS, TaskFailure } from "@cloister/runtime";
import jpeg from "jpeg-js";
import {
  BuiltinExecutor,
  CANCELED,
  DEFAULT_FACE_CASCADE,
  DETECTOR_INVALID,
  DETECTOR_MISSING,
} from "../src/index.js";
import { decodeGray } from "../src/kernels/face.js";
import { failsWith, fixture, MemoryRuntime, run } from "./helpers.js";

const name = "builtin-face-detection";
const image = [...fixture("face_detection/input.jpg")];
const fixtureArgs = {
  image,
  min_face_size: 20,
  score_thresh: 2.0,
  pyramid_scale_factor: 0.8,
  slide_window_step_x: 4,
  slide_window_step_y: 4,
};

function jpegOf(width: number, height: number, pixel: (x: number, y: number) => number): number[] {
  const rgba = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = pixel(x, y);
      rgba.set([v, v, v, 255], (y * width + x) * 4);
    }
  }
  return [...jpeg.encode({ width, height, data: rgba }, 90).data];
}

interface Face {
  bbox: { x: number; y: number; width: number; height: number };
  roll: number;
  pitch: number;
  yaw: number;
  score: number;
}

async function runWith(executor: BuiltinExecutor, args: Record<string, unknown>) {
  return executor.execute({
    taskId: "00000000-0000-0000-0000-000000000000",
    functionName: name,
    payload: Buffer.alloc(0),
    executorType: "builtin",
    executor: "builtin",
    arguments: args as never,
    runtime: new MemoryRuntime(),
    limits: DEFAULT_LIMITS,
    signal: new AbortController().signal,
  });
}

// The default fixture run, shared by the tests that only read it (a full scan takes a second or two).
let fixtureRun: Promise<string> | undefined;
const fixtureResult = () => {
  fixtureRun ??= run(name, fixtureArgs).then((r) => r.result);
  return fixtureRun;
};

describe("builtin-face-detection", () => {
  it("decodes JPEG to 8-bit luma", () => {
    const white = jpeg.encode(
      { width: 2, height: 1, data: Buffer.from([255, 255, 255, 255, 0, 0, 0, 255]) },
      100,
    );
    const gray = decodeGray(white.data);
    assert.equal(gray.width, 2);
    assert.equal(gray.height, 1);
    assert.ok((gray.data[0] as number) >= 250 && (gray.data[1] as number) <= 5);
    const photo = decodeGray(fixture("face_detection/input.jpg"));
    assert.equal(photo.data.length, photo.width * photo.height);
  });

  it("finds the faces of the fixture photograph, in the legacy result shape", async () => {
    assert.ok(existsSync(DEFAULT_FACE_CASCADE), "needs the Debian package opencv-data");
    const result = await fixtureResult();
    const { width, height } = decodeGray(fixture("face_detection/input.jpg"));
    const faces = JSON.parse(result) as Face[];
    console.log(`# ${faces.length} faces found on face_detection/input.jpg (legacy SeetaFace: 29)`);
    assert.ok(faces.length >= 15 && faces.length <= 45, `${faces.length} faces`);
    for (const f of faces) {
      assert.deepEqual(Object.keys(f), ["bbox", "roll", "pitch", "yaw", "score"]);
      assert.deepEqual(Object.keys(f.bbox), ["x", "y", "width", "height"]);
      const { x, y, width: w, height: h } = f.bbox;
      for (const v of [x, y, w, h]) assert.ok(Number.isInteger(v));
      assert.ok(x >= 0 && y >= 0 && x + w <= width && y + h <= height, `inside the image: ${result}`);
      assert.ok(w >= 20 && h >= 20, "at least min_face_size");
      // The photograph's faces are all small: a box this size would be a false alarm.
      assert.ok(w <= 120 && h <= 120);
      assert.ok(f.score >= 2.0, "score_thresh is honoured");
      assert.deepEqual([f.roll, f.pitch, f.yaw], [0, 0, 0]);
    }
    // Floats are written as floats, as the legacy serializer does.
    assert.match(
      result,
      /^\[\{"bbox":\{"x":\d+,"y":\d+,"width":\d+,"height":\d+\},"roll":0\.0,"pitch":0\.0,"yaw":0\.0,"score":\d+\.0\}/,
    );
    // Distinct faces: no two boxes share their centre region.
    for (const a of faces) {
      for (const b of faces) {
        if (a === b) continue;
        const dx = Math.abs(a.bbox.x + a.bbox.width / 2 - (b.bbox.x + b.bbox.width / 2));
        const dy = Math.abs(a.bbox.y + a.bbox.height / 2 - (b.bbox.y + b.bbox.height / 2));
        assert.ok(dx > a.bbox.width / 3 || dy > a.bbox.height / 3, "overlapping duplicates");
      }
    }
    // Strongest first.
    assert.deepEqual(
      faces.map((f) => f.score),
      faces.map((f) => f.score).sort((a, b) => b - a),
    );
  });

  it("finds nothing where there is no face", async () => {
    const uniform = jpegOf(320, 240, () => 128);
    assert.equal((await run(name, { ...fixtureArgs, image: uniform })).result, "[]");
    let seed = 12345;
    const noise = jpegOf(320, 240, () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed >>> 23;
    });
    assert.equal((await run(name, { ...fixtureArgs, image: noise })).result, "[]");
    // Smaller than the smallest face: nothing to scan.
    assert.equal((await run(name, { image: jpegOf(16, 16, () => 0) })).result, "[]");
  });

  it("honours the face size bounds and score threshold", async () => {
    const faces = (args: Record<string, unknown>) =>
      run(name, { ...fixtureArgs, ...args }).then((r) => JSON.parse(r.result) as Face[]);
    // Every face in the fixture is under 100 pixels wide.
    assert.deepEqual(await faces({ min_face_size: 100 }), []);
    assert.deepEqual(await faces({ max_face_size: 30 }), []);
    const all = JSON.parse(await fixtureResult()) as Face[];
    const strong = await faces({ score_thresh: 4.0 });
    assert.ok(strong.length > 0 && strong.length < all.length);
    // A higher threshold only drops the weaker faces.
    assert.deepEqual(
      strong,
      all.filter((f) => f.score >= 4),
    );
  });

  it("fails clearly when the cascade file is missing or invalid", async () => {
    const missing = new BuiltinExecutor(undefined, { faceCascadePath: "/nonexistent/cascade.xml" });
    await assert.rejects(runWith(missing, fixtureArgs), (e: unknown) => {
      assert.ok(e instanceof TaskFailure);
      assert.equal(e.message, DETECTOR_MISSING);
      assert.match(e.message, /opencv-data/);
      return true;
    });
    const dir = mkdtempSync(join(tmpdir(), "cascade-"));
    const bogus = join(dir, "bogus.xml");
    writeFileSync(bogus, "<opencv_storage><cascade><stageType>BOOST</stageType></cascade></opencv_storage>");
    await assert.rejects(runWith(new BuiltinExecutor(undefined, { faceCascadePath: bogus }), fixtureArgs), {
      message: DETECTOR_INVALID,
    });
  });

  it("stops when the task is canceled", async () => {
    const c = new AbortController();
    setTimeout(() => c.abort(), 20);
    await failsWith(CANCELED, name, fixtureArgs, { signal: c.signal });
  });

  it("rejects bad arguments and images", async () => {
    const BAD_ARGS = "Cannot deserialize arguments";
    await failsWith(BAD_ARGS, name, { ...fixtureArgs, image: [1, 256] });
    await failsWith(BAD_ARGS, name, { ...fixtureArgs, image: "abc" });
    await failsWith(BAD_ARGS, name, { ...fixtureArgs, min_face_size: -20 });
    await failsWith("Invalid argument: window_size must be at least 20", name, {
      ...fixtureArgs,
      window_size: 10,
    });
    await failsWith("Invalid argument: min_face_size must be at least 20", name, {
      ...fixtureArgs,
      min_face_size: 19,
    });
    await failsWith("Invalid argument: slide window steps must be positive", name, {
      ...fixtureArgs,
      slide_window_step_y: 0,
    });
    await failsWith("Invalid argument: pyramid_scale_factor must be within 0.01 and 0.99", name, {
      ...fixtureArgs,
      pyramid_scale_factor: 1.5,
    });
    await failsWith("Invalid argument: score_thresh must be positive", name, {
      ...fixtureArgs,
      score_thresh: 0,
    });
    await failsWith("Image decoding error: not a supported JPEG image", name, {
      ...fixtureArgs,
      image: [0x89, 0x50, 0x4e, 0x47],
    });
  });
});
