import { TaskFailure } from "@cloister/runtime";
import { type ArgsOf, parseArgs, t } from "../args.js";
import type { Builtin } from "../builtin.js";
import { DEFAULT_FACE_CASCADE, type FaceDetectionParams } from "../kernels/face.js";

const faceArgs = {
  image: t.bytes(),
  window_size: t.optional(t.u32()),
  slide_window_step_x: t.optional(t.u32()),
  slide_window_step_y: t.optional(t.u32()),
  min_face_size: t.optional(t.u32()),
  max_face_size: t.optional(t.u32()),
  pyramid_scale_factor: t.optional(t.f32()),
  score_thresh: t.optional(t.f64()),
};

function invalid(what: string): never {
  throw new TaskFailure(`Invalid argument: ${what}`);
}

/** The ranges the legacy detector asserts (it aborts the worker; here the task fails). */
function detectorParams(a: ArgsOf<typeof faceArgs>): FaceDetectionParams {
  const p: FaceDetectionParams = {};
  if (a.window_size !== undefined) {
    if (a.window_size < 20) invalid("window_size must be at least 20");
    p.windowSize = a.window_size;
  }
  if (a.slide_window_step_x !== undefined && a.slide_window_step_y !== undefined) {
    if (a.slide_window_step_x === 0 || a.slide_window_step_y === 0)
      invalid("slide window steps must be positive");
    p.slideWindowStep = { x: a.slide_window_step_x, y: a.slide_window_step_y };
  }
  if (a.min_face_size !== undefined) {
    if (a.min_face_size < 20) invalid("min_face_size must be at least 20");
    p.minFaceSize = a.min_face_size;
  }
  if (a.max_face_size !== undefined) p.maxFaceSize = a.max_face_size;
  if (a.pyramid_scale_factor !== undefined) {
    if (!(a.pyramid_scale_factor >= Math.fround(0.01) && a.pyramid_scale_factor <= Math.fround(0.99))) {
      invalid("pyramid_scale_factor must be within 0.01 and 0.99");
    }
    p.pyramidScaleFactor = a.pyramid_scale_factor;
  }
  if (a.score_thresh !== undefined) {
    if (!(a.score_thresh > 0)) invalid("score_thresh must be positive");
    p.scoreThresh = a.score_thresh;
  }
  return p;
}

export interface FaceDetectionOptions {
  /** OpenCV Haar cascade XML; defaults to Debian's `opencv-data` frontal-face cascade. */
  cascadePath?: string;
}

/** `builtin-face-detection` detecting with the given cascade file. */
export function createFaceDetection(options: FaceDetectionOptions = {}): Builtin {
  const cascadePath = options.cascadePath ?? DEFAULT_FACE_CASCADE;
  return {
    name: "builtin-face-detection",
    descriptor: {
      summary: "detects faces in a JPEG image (argument image); returns the boxes as JSON",
      arguments: faceArgs,
      inputs: [],
      outputs: [],
    },
    async run(raw, { offload }) {
      const a = parseArgs(faceArgs, raw);
      const params = detectorParams(a);
      return offload("faceDetection", { image: a.image, params, cascadePath });
    },
  };
}

export const faceDetection: Builtin = createFaceDetection();
