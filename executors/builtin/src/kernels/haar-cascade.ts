import { child, numbers, optionalChild, parseXml, type XmlElement, XmlError } from "./xml.js";

/**
 * A boosted Haar cascade in flat arrays (fast to walk, cheap to structured-clone).
 *
 * Layout, as in OpenCV's "opencv-cascade-classifier" storage format:
 * - a stage is a run of weak classifiers whose leaf values are summed; the window is rejected
 *   when the sum falls below the stage threshold;
 * - a weak classifier is a small decision tree: node `n` compares a feature value with its
 *   threshold (scaled by the window's standard deviation) and goes to `left` when below, else
 *   `right`; a child > 0 is another node of the same tree, a child ≤ 0 is leaf `-child`;
 * - a feature is a weighted sum of up to three rectangle sums, upright or rotated by 45°.
 */
export interface HaarCascade {
  /** Detector window in pixels. */
  width: number;
  height: number;
  stageThreshold: Float64Array;
  /** Index of each stage's first weak classifier; stage s owns [stageFirst[s], stageFirst[s+1]). */
  stageFirst: Int32Array;
  /** Per weak classifier: index of its first node and of its first leaf. */
  classifierNode: Int32Array;
  classifierLeaf: Int32Array;
  nodeFeature: Int32Array;
  nodeThreshold: Float64Array;
  nodeLeft: Int32Array;
  nodeRight: Int32Array;
  leafValue: Float64Array;
  /** Per feature: number of rectangles (2 or 3) and whether they are tilted. */
  featureRectCount: Int32Array;
  featureTilted: Uint8Array;
  /** Per feature, 3 slots of (x, y, w, h); unused slots are zero. */
  rects: Int32Array;
  rectWeight: Float64Array;
  hasTilted: boolean;
}

export const MAX_RECTS = 3;

export class CascadeError extends Error {
  override name = "CascadeError";
}

function int(v: number, what: string): number {
  if (!Number.isInteger(v)) throw new CascadeError(`${what} is not an integer`);
  return v;
}

/** Parses an OpenCV boosted Haar cascade (the format of the files in Debian's `opencv-data`). */
export function parseHaarCascade(xml: string): HaarCascade {
  try {
    return fromStorage(parseXml(xml));
  } catch (e) {
    if (e instanceof XmlError || e instanceof CascadeError) throw new CascadeError(e.message);
    throw e;
  }
}

function fromStorage(doc: XmlElement): HaarCascade {
  const storage = child(doc, "opencv_storage");
  const cascade = optionalChild(storage, "cascade");
  if (!cascade)
    throw new CascadeError("no <cascade> (the old opencv-haar-classifier format is not supported)");
  const kind = (name: string) => child(cascade, name).text.trim();
  if (kind("stageType") !== "BOOST" || kind("featureType") !== "HAAR") {
    throw new CascadeError("only BOOST stages with HAAR features are supported");
  }
  const width = int(numbers(child(cascade, "width"))[0] ?? Number.NaN, "width");
  const height = int(numbers(child(cascade, "height"))[0] ?? Number.NaN, "height");
  if (width < 3 || height < 3) throw new CascadeError("window too small");

  const stages = child(cascade, "stages").children;
  const featureEls = child(cascade, "features").children;
  const nFeatures = featureEls.length;

  const stageThreshold: number[] = [];
  const stageFirst: number[] = [0];
  const classifierNode: number[] = [];
  const classifierLeaf: number[] = [];
  const nodeFeature: number[] = [];
  const nodeThreshold: number[] = [];
  const nodeLeft: number[] = [];
  const nodeRight: number[] = [];
  const leafValue: number[] = [];

  for (const stage of stages) {
    stageThreshold.push(numbers(child(stage, "stageThreshold"))[0] ?? Number.NaN);
    for (const weak of child(stage, "weakClassifiers").children) {
      const nodes = numbers(child(weak, "internalNodes"));
      const leaves = numbers(child(weak, "leafValues"));
      if (nodes.length === 0 || nodes.length % 4 !== 0) throw new CascadeError("bad internalNodes");
      const nNodes = nodes.length / 4;
      classifierNode.push(nodeFeature.length);
      classifierLeaf.push(leafValue.length);
      for (let i = 0; i < nNodes; i++) {
        const left = int(nodes[4 * i] as number, "node child");
        const right = int(nodes[4 * i + 1] as number, "node child");
        const feature = int(nodes[4 * i + 2] as number, "feature index");
        for (const c of [left, right]) {
          if (c > 0 ? c >= nNodes || c <= i : -c >= leaves.length)
            throw new CascadeError("node child out of range");
        }
        if (feature < 0 || feature >= nFeatures) throw new CascadeError("feature index out of range");
        nodeLeft.push(left);
        nodeRight.push(right);
        nodeFeature.push(feature);
        nodeThreshold.push(nodes[4 * i + 3] as number);
      }
      leafValue.push(...leaves);
    }
    stageFirst.push(classifierNode.length);
  }
  if (stageThreshold.length === 0) throw new CascadeError("no stages");

  const featureRectCount = new Int32Array(nFeatures);
  const featureTilted = new Uint8Array(nFeatures);
  const rects = new Int32Array(nFeatures * MAX_RECTS * 4);
  const rectWeight = new Float64Array(nFeatures * MAX_RECTS);
  featureEls.forEach((f, i) => {
    const rs = child(f, "rects").children;
    if (rs.length < 1 || rs.length > MAX_RECTS) throw new CascadeError("a feature needs 1 to 3 rectangles");
    const tiltedEl = optionalChild(f, "tilted");
    const tilted = tiltedEl ? numbers(tiltedEl)[0] === 1 : false;
    featureRectCount[i] = rs.length;
    featureTilted[i] = tilted ? 1 : 0;
    rs.forEach((r, k) => {
      const v = numbers(r);
      if (v.length !== 5) throw new CascadeError("a rectangle is x y w h weight");
      const [x, y, w, h] = v.slice(0, 4).map((n) => int(n, "rectangle"));
      if (!inWindow(x as number, y as number, w as number, h as number, tilted, width, height)) {
        throw new CascadeError("rectangle outside the window");
      }
      rects.set([x as number, y as number, w as number, h as number], (i * MAX_RECTS + k) * 4);
      rectWeight[i * MAX_RECTS + k] = v[4] as number;
    });
  });

  return {
    width,
    height,
    stageThreshold: Float64Array.from(stageThreshold),
    stageFirst: Int32Array.from(stageFirst),
    classifierNode: Int32Array.from(classifierNode),
    classifierLeaf: Int32Array.from(classifierLeaf),
    nodeFeature: Int32Array.from(nodeFeature),
    nodeThreshold: Float64Array.from(nodeThreshold),
    nodeLeft: Int32Array.from(nodeLeft),
    nodeRight: Int32Array.from(nodeRight),
    leafValue: Float64Array.from(leafValue),
    featureRectCount,
    featureTilted,
    rects,
    rectWeight,
    hasTilted: featureTilted.includes(1),
  };
}

/**
 * Whether the integral-image corners a rectangle reads stay inside the window, so that feature
 * evaluation can never read outside the scanned image. A tilted rectangle hangs from its top
 * corner (x, y): w steps down-right and h steps down-left.
 */
function inWindow(
  x: number,
  y: number,
  w: number,
  h: number,
  tilted: boolean,
  W: number,
  H: number,
): boolean {
  if (w <= 0 || h <= 0 || x < 0 || y < 0) return false;
  if (!tilted) return x + w <= W && y + h <= H;
  return x - h >= 0 && x + w <= W && y + w + h <= H;
}
