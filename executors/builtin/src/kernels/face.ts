import { TaskFailure } from "@cloister/runtime";
import jpeg from "jpeg-js";

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
}

export interface GrayImage {
  width: number;
  height: number;
  /** One byte per pixel, row-major. */
  data: Uint8Array;
}

export const DETECTOR_MISSING =
  "Face detection is not available: the SeetaFace frontal detector model (seeta_fd_frontal_v1.0) is not installed";

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

/**
 * Decodes the image, then needs the SeetaFace funnel-structured cascade (LAB boosted stages and
 * SURF-MLP stages) with its trained parameters. Those parameters are a binary model file that
 * cannot be obtained here, and a detector without them would return made-up faces, so the task
 * fails with a clear reason after the image has been validated.
 */
export function faceDetection({ image }: FaceDetectionInput): never {
  decodeGray(image);
  throw new TaskFailure(DETECTOR_MISSING);
}
