import assert from "node:assert/strict";
import { describe, it } from "node:test";
import jpeg from "jpeg-js";
import { DETECTOR_MISSING, decodeGray } from "../src/kernels/face.js";
import { failsWith, fixture } from "./helpers.js";

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
  it("reports the missing detector model instead of inventing faces", async () => {
    await failsWith(DETECTOR_MISSING, name, fixtureArgs);
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
