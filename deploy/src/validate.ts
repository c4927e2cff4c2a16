// Validates rendered Kubernetes objects against the API's OpenAPI schemas (kubernetes-models
// generates one validator per kind from them), so a typo in a template fails here, not on apply.
// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are free-form until validated
export type KubeObject = Record<string, any>;

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: KubeObject) => Validatable;

/** Throws with the object's kind/name and the schema error when the object is invalid. */
export async function validateObject(obj: KubeObject): Promise<void> {
  const { apiVersion, kind } = obj;
  if (
    typeof apiVersion !== "string" ||
    typeof kind !== "string" ||
    !/^[A-Za-z0-9.]+(\/[a-z0-9]+)?$/.test(apiVersion)
  )
    throw new Error(`object without a valid apiVersion/kind: ${JSON.stringify(obj).slice(0, 200)}`);
  let mod: Record<string, ModelClass>;
  try {
    mod = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, ModelClass>;
  } catch {
    throw new Error(`no schema for ${apiVersion} ${kind} (an API version Kubernetes does not serve?)`);
  }
  const Model = mod[kind];
  if (!Model) throw new Error(`no schema for ${apiVersion} ${kind}`);
  try {
    new Model(obj).validate();
  } catch (e) {
    throw new Error(`${kind} ${obj.metadata?.name}: ${(e as Error).message}`);
  }
}
