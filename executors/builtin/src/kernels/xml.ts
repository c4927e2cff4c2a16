/**
 * Just enough XML for OpenCV's storage files: elements, attributes (read but unused), text,
 * comments and the XML declaration. No entities, CDATA or DTDs: cascade files use none, and a
 * file that does is rejected rather than half-read.
 */
export interface XmlElement {
  name: string;
  children: XmlElement[];
  /** Concatenated text directly inside this element. */
  text: string;
}

export class XmlError extends Error {
  override name = "XmlError";
}

const TOKEN =
  /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[^\s=>/]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)|(<)/y;

export function parseXml(source: string): XmlElement {
  const root: XmlElement = { name: "#document", children: [], text: "" };
  const open: XmlElement[] = [root];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < source.length) {
    const m = TOKEN.exec(source);
    if (!m) throw new XmlError(`malformed markup at offset ${TOKEN.lastIndex}`);
    const [, closing, name, , selfClosing, text, stray] = m;
    const top = open[open.length - 1] as XmlElement;
    if (stray !== undefined) throw new XmlError(`malformed markup at offset ${m.index}`);
    if (text !== undefined) {
      if (text.includes("&")) throw new XmlError("entities are not supported");
      top.text += text;
    } else if (name !== undefined) {
      if (closing) {
        if (top.name !== name || open.length === 1) throw new XmlError(`unexpected </${name}>`);
        open.pop();
      } else {
        const el: XmlElement = { name, children: [], text: "" };
        top.children.push(el);
        if (!selfClosing) open.push(el);
      }
    }
  }
  if (open.length !== 1) throw new XmlError(`unclosed <${(open[open.length - 1] as XmlElement).name}>`);
  return root;
}

/** The first child named `name`, or an error naming the path that was expected. */
export function child(el: XmlElement, name: string): XmlElement {
  const c = el.children.find((x) => x.name === name);
  if (!c) throw new XmlError(`<${el.name}> has no <${name}>`);
  return c;
}

export function optionalChild(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((x) => x.name === name);
}

/** Whitespace-separated numbers in an element's text. */
export function numbers(el: XmlElement): number[] {
  const parts = el.text
    .trim()
    .split(/\s+/)
    .filter((s) => s.length > 0);
  return parts.map((s) => {
    const v = Number(s);
    if (!Number.isFinite(v)) throw new XmlError(`<${el.name}> holds a non-number`);
    return v;
  });
}
