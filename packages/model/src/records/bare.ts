import { isUuid } from "@cloister/core";
import type { IdPrefix, IdType, RecordId } from "./ids.js";

/** The id of a bare UUID key suffix, or undefined. */
export const uuidSuffix =
  <K extends IdPrefix>(type: IdType<K>) =>
  (suffix: string): RecordId<K> | undefined =>
    isUuid(suffix) ? type.fromUuid(suffix) : undefined;
