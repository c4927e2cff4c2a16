import { readFileSync } from "node:fs";
import { TaskFailure } from "@cloister/runtime";
import jpeg from "jpeg-js";
import { jsonF64 } from "../text.js";
import { groupHits } from "./group.js";
import { CascadeError, type HaarCascade, parseHaarCascade } from "./haar-cascade.js";
import { type GrayImage, scan } from "./viola-jones.js";

export type { GrayImage } from "./viola-jones.js";

/** Detector settings as given in the task's arguments (already range-checked). */
export interface FaceDetectionParams {
  windowSize?: number;
  slideWindowStep?: { x: number; y: number };
  minFaceSize?: number;
  maxFaceSize?: number;
  pyramidScaleFactor?: number;
  scoreThresh?: number;
}

export interface FaceDetectionInput {
  image: Uint8Array;
  params: FaceDetectionParams;
  /** OpenCV Haar cascade XML file to detect with. */
  cascadePath: string;
}

/** Debian's `opencv-data` frontal-face cascade (see README for why this one). */
export const DEFAULT_FACE_CASCADE = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_alt2.xml";

export const DETECTOR_MISSING =
  "Face detection is not available: the face detector's Haar cascade file is not installed (Debian package opencv-data)";
export const DETECTOR_INVALID =
  "Face detection is not available: the configured face cascade is not a valid OpenCV Haar cascade";

/** The legacy detector's defaults (rustface), used for arguments the task leaves out. */
const DEFAULTS = { windowSize: 40, minFaceSize: 20, pyramidScaleFactor: 0.8, step: 4, scoreThresh: 2.0 };

/**
 * Decodes a JPEG (the only format the legacy build reads) and converts it to 8-bit luma with the
 * Rec. 709 weights, truncating like the legacy image library. Decoder limits bound the memory a
 * crafted image can claim.
 */
export function decodeGray(image: Uint8Array): GrayImage {
  let rgba: { width: number; height: number; data: Uint8Array };
  try {
    rgba = jpeg.decode(image, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: 100,
      maxMemoryUsageInMB: 512,
    });
  } catch {
    throw new TaskFailure("Image decoding error: not a supported JPEG image");
  }
  const { width, height, data } = rgba;
  const gray = new Uint8Array(width * height);
  for (let i = 0, p = 0; i < gray.length; i++, p += 4) {
    const l = Math.fround(
      Math.fround(0.2126 * (data[p] as number)) +
        Math.fround(0.7152 * (data[p + 1] as number)) +
        Math.fround(0.0722 * (data[p + 2] as number)),
    );
    gray[i] = Math.min(255, Math.floor(l));
  }
  return { width, height, data: gray };
}

export function loadCascade(path: string): HaarCascade {
  let xml: string;
  try {
    xml = readFileSync(path, "utf8");
  } catch {
    throw new TaskFailure(DETECTOR_MISSING);
  }
  try {
    return parseHaarCascade(xml);
  } catch (e) {
    if (e instanceof CascadeError) throw new TaskFailure(DETECTOR_INVALID);
    throw e;
  }
}

export interface Face {
  bbox: { x: number; y: number; width: number; height: number };
  score: number;
}

/**
 * Finds frontal faces with a Viola–Jones Haar cascade. The legacy arguments map onto it as
 * documented in the README: face-size bounds bound the scanned window sizes, the pyramid factor
 * sets the ratio between them, steps are in pixels of each pyramid level, and `score_thresh` is
 * the least number of overlapping accepted windows a face needs (its score).
 */
export function detectFaces(gray: GrayImage, cascade: HaarCascade, params: FaceDetectionParams): Face[] {
  const minSize = params.minFaceSize ?? DEFAULTS.minFaceSize;
  const maxSize = params.maxFaceSize ? params.maxFaceSize : undefined;
  const factor = params.pyramidScaleFactor ?? DEFAULTS.pyramidScaleFactor;
  const step = params.slideWindowStep ?? { x: DEFAULTS.step, y: DEFAULTS.step };
  // The legacy detector slides a window_size-pixel window by `step` pixels at every pyramid
  // level; sliding the cascade's window by the same share of its width keeps the density of
  // tried positions per face, whatever the cascade's native size.
  const perWindow = cascade.width / (params.windowSize ?? DEFAULTS.windowSize);
  const hits = scan(gray, cascade, {
    minSize,
    ...(maxSize !== undefined ? { maxSize } : {}),
    scaleStep: 1 / factor,
    stepX: step.x * perWindow,
    stepY: step.y * perWindow,
  });
  const groups = groupHits(hits, params.scoreThresh ?? DEFAULTS.scoreThresh);
  const faces: Face[] = [];
  for (const g of groups) {
    // Averaged boxes are rounded, then clipped to the image (a face at the border may be averaged
    // a fraction of a pixel past it).
    const x = Math.max(0, Math.round(g.x));
    const y = Math.max(0, Math.round(g.y));
    const width = Math.min(Math.round(g.width), gray.width - x);
    const height = Math.min(Math.round(g.height), gray.height - y);
    faces.push({ bbox: { x, y, width, height }, score: g.neighbours });
  }
  // Strongest first, then reading order, so equal inputs give equal output.
  return faces.sort((a, b) => b.score - a.score || a.bbox.y - b.bbox.y || a.bbox.x - b.bbox.x);
}

/** The legacy result shape; a Haar cascade estimates no pose, so roll, pitch and yaw are 0.0. */
export function facesJson(faces: readonly Face[]): string {
  const items = faces.map(
    ({ bbox, score }) =>
      `{"bbox":{"x":${bbox.x},"y":${bbox.y},"width":${bbox.width},"height":${bbox.height}},` +
      `"roll":0.0,"pitch":0.0,"yaw":0.0,"score":${jsonF64(score)}}`,
  );
  return `[${items.join(",")}]`;
}

/** Kernel: cascade, image, detection, JSON result. */
export function faceDetection({ image, params, cascadePath }: FaceDetectionInput): string {
  const cascade = loadCascade(cascadePath);
  return facesJson(detectFaces(decodeGray(image), cascade, params));
}
