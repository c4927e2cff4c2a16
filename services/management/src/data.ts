import { randomBytes } from "node:crypto";
import { cloisterError } from "@cloister/core";
import { exchangePath, isFileAgentError } from "@cloister/file-agent";
import {
  CMAC_LENGTH,
  fileCryptoFromInfo,
  type InputFileRecord,
  InputId,
  inputRecords,
  type OutputFileRecord,
  OutputId,
  outputRecords,
  sortedSet,
} from "@cloister/model";
import type { frontend } from "@cloister/proto";
import {
  type Caller,
  denied,
  invalidDataId,
  type ManagementContext,
  parseIdStrict,
  requireId,
} from "./context.js";
import { normalizeUrl } from "./url.js";

const FUSION_URL = (uuid: string) => `fusion:///TEACLAVE_FUSION_BASE/${uuid}.fusion`;

const soleOwner = (owners: Set<string>, userId: string): boolean => owners.size === 1 && owners.has(userId);

/** Data: input and output file records, fusion outputs, and who may see them. */
export class Data {
  constructor(private readonly ctx: ManagementContext) {}

  /** Missing or damaged → 3 `invalid data id`. */
  async inputById(id: InputId): Promise<InputFileRecord> {
    const f = await this.ctx.records.find(inputRecords, id);
    if (!f) throw invalidDataId();
    return f;
  }

  async outputById(id: OutputId): Promise<OutputFileRecord> {
    const f = await this.ctx.records.find(outputRecords, id);
    if (!f) throw invalidDataId();
    return f;
  }

  private async input(external: string): Promise<InputFileRecord> {
    const id = InputId.tryParse(external);
    if (!id) throw invalidDataId();
    return this.inputById(id);
  }

  private async output(external: string): Promise<OutputFileRecord> {
    const id = OutputId.tryParse(external);
    if (!id) throw invalidDataId();
    return this.outputById(id);
  }

  private async saveInput(f: InputFileRecord): Promise<string> {
    const id = InputId.fromUuid(f.uuid);
    await this.ctx.records.put(inputRecords, id, f);
    return InputId.external(id);
  }

  private async saveOutput(f: OutputFileRecord): Promise<string> {
    const id = OutputId.fromUuid(f.uuid);
    await this.ctx.records.put(outputRecords, id, f);
    return OutputId.external(id);
  }

  /**
   * A user names only files of their own: a `file:` URL must lie in the caller's exchange
   * directory (the node checks again, on its disk), and `fusion:` URLs are minted by the
   * platform alone (RegisterFusionOutput).
   */
  private checkUrl(url: string, userId: string): void {
    if (url.startsWith("fusion:")) throw cloisterError("FUSION_URL_RESERVED");
    if (!url.startsWith("file:")) return;
    try {
      exchangePath(url, this.ctx.fileExchangeDir, [userId]);
    } catch (e) {
      if (isFileAgentError(e, "FILE_URLS_DISABLED")) throw cloisterError("FILE_URLS_DISABLED");
      if (isFileAgentError(e, "INVALID_URL")) throw cloisterError("FILE_URL_INVALID");
      throw cloisterError("FILE_URL_OUTSIDE_EXCHANGE");
    }
  }

  async registerInputFile(
    caller: Caller,
    req: frontend.RegisterInputFileRequest,
  ): Promise<frontend.RegisterInputFileResponse> {
    const userId = requireId(caller);
    const url = normalizeUrl(req.url ?? "");
    this.checkUrl(url, userId);
    const cmac = Buffer.from(req.cmac ?? []);
    if (cmac.length !== CMAC_LENGTH) throw cloisterError("INVALID_CMAC_LENGTH");
    const crypto = fileCryptoFromInfo(req.cryptoInfo);
    const dataId = await this.saveInput({
      uuid: InputId.create(),
      url,
      cmac,
      crypto,
      owners: new Set([userId]),
    });
    return { dataId };
  }

  async registerOutputFile(
    caller: Caller,
    req: frontend.RegisterOutputFileRequest,
  ): Promise<frontend.RegisterOutputFileResponse> {
    const userId = requireId(caller);
    const url = normalizeUrl(req.url ?? "");
    this.checkUrl(url, userId);
    const crypto = fileCryptoFromInfo(req.cryptoInfo);
    const dataId = await this.saveOutput({
      uuid: OutputId.create(),
      url,
      cmac: null,
      crypto,
      owners: new Set([userId]),
    });
    return { dataId };
  }

  async updateInputFile(
    caller: Caller,
    req: frontend.UpdateInputFileRequest,
  ): Promise<frontend.UpdateInputFileResponse> {
    const userId = requireId(caller);
    const id = parseIdStrict(InputId, req.dataId ?? "", invalidDataId);
    const url = normalizeUrl(req.url ?? "");
    this.checkUrl(url, userId);
    const old = await this.inputById(id);
    if (!soleOwner(old.owners, userId)) throw denied();
    return { dataId: await this.saveInput({ ...old, uuid: InputId.create(), url }) };
  }

  async updateOutputFile(
    caller: Caller,
    req: frontend.UpdateOutputFileRequest,
  ): Promise<frontend.UpdateOutputFileResponse> {
    const userId = requireId(caller);
    const id = parseIdStrict(OutputId, req.dataId ?? "", invalidDataId);
    const url = normalizeUrl(req.url ?? "");
    this.checkUrl(url, userId);
    const old = await this.outputById(id);
    if (!soleOwner(old.owners, userId)) throw denied();
    return { dataId: await this.saveOutput({ ...old, uuid: OutputId.create(), url, cmac: null }) };
  }

  async registerFusionOutput(
    caller: Caller,
    req: frontend.RegisterFusionOutputRequest,
  ): Promise<frontend.RegisterFusionOutputResponse> {
    const userId = requireId(caller);
    const list = req.ownerList ?? [];
    // Counted with duplicates, as the legacy check does.
    if (list.length <= 1 || !list.includes(userId)) throw denied();
    const uuid = OutputId.create();
    const dataId = await this.saveOutput({
      uuid,
      url: FUSION_URL(uuid),
      cmac: null,
      crypto: { schema: "teaclave-file-128", key: randomBytes(16) },
      owners: new Set(list),
    });
    return { dataId };
  }

  async registerInputFromOutput(
    caller: Caller,
    req: frontend.RegisterInputFromOutputRequest,
  ): Promise<frontend.RegisterInputFromOutputResponse> {
    const userId = requireId(caller);
    const out = await this.output(req.dataId ?? "");
    if (!out.owners.has(userId)) throw denied();
    if (out.cmac === null) throw cloisterError("INVALID_OUTPUT_FILE");
    // The input keeps the output's uuid (legacy rule): `input-<same uuid>`.
    const dataId = await this.saveInput({
      uuid: out.uuid,
      url: out.url,
      cmac: out.cmac,
      crypto: out.crypto,
      owners: out.owners,
    });
    return { dataId };
  }

  async getInputFile(
    caller: Caller,
    req: frontend.GetInputFileRequest,
  ): Promise<frontend.GetInputFileResponse> {
    const userId = requireId(caller);
    const f = await this.input(req.dataId ?? "");
    if (!f.owners.has(userId)) throw denied();
    return { owner: sortedSet(f.owners), cmac: Buffer.from(f.cmac) };
  }

  async getOutputFile(
    caller: Caller,
    req: frontend.GetOutputFileRequest,
  ): Promise<frontend.GetOutputFileResponse> {
    const userId = requireId(caller);
    const f = await this.output(req.dataId ?? "");
    if (!f.owners.has(userId)) throw denied();
    return { owner: sortedSet(f.owners), cmac: f.cmac ? Buffer.from(f.cmac) : Buffer.alloc(0) };
  }
}
