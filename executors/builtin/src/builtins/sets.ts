import { TaskFailure } from "@cloister/runtime";
import { parseArgs, t } from "../args.js";
import { asBuffer, type Builtin } from "../builtin.js";

const intersectArgs = { order: t.string() };

export const orderedSetIntersect: Builtin = {
  name: "builtin-ordered-set-intersect",
  descriptor: {
    summary: "private set intersection of two sorted line lists; order ascending or desending",
    arguments: intersectArgs,
    inputs: ["input_data1", "input_data2"],
    outputs: ["output_result1", "output_result2"],
  },
  async run(raw, { runtime, offload }) {
    const { order } = parseArgs(intersectArgs, raw);
    // Legacy order: both inputs opened and both outputs created before the order is checked.
    const data1 = await runtime.readInput("input_data1");
    const data2 = await runtime.readInput("input_data2");
    const empty = Buffer.alloc(0);
    await runtime.writeOutput("output_result1", empty);
    await runtime.writeOutput("output_result2", empty);
    // `desending` is the legacy spelling, kept for compatibility.
    if (order !== "ascending" && order !== "desending") throw new TaskFailure("Invalid order");
    const r = await offload("orderedSetIntersect", { data1, data2, ascending: order === "ascending" });
    await runtime.writeOutput("output_result1", asBuffer(r.result1));
    await runtime.writeOutput("output_result2", asBuffer(r.result2));
    return `${r.common} common items`;
  },
};

const joinArgs = { left_column: t.uint(), right_column: t.uint(), ascending: t.bool(), drop: t.bool() };

export const orderedSetJoin: Builtin = {
  name: "builtin-ordered-set-join",
  descriptor: {
    summary: "joins two sorted CSV files on a column each",
    arguments: joinArgs,
    inputs: ["input_data1", "input_data2"],
    outputs: ["output_result"],
  },
  async run(raw, { runtime, offload }) {
    const a = parseArgs(joinArgs, raw);
    const data1 = await runtime.readInput("input_data1");
    const data2 = await runtime.readInput("input_data2");
    const r = await offload("orderedSetJoin", {
      data1,
      data2,
      leftColumn: a.left_column,
      rightColumn: a.right_column,
      ascending: a.ascending,
      drop: a.drop,
    });
    await runtime.writeOutput("output_result", asBuffer(r.csv));
    return `${r.count} records`;
  },
};

const pjcArgs = { num_user: t.uint() };

export const privateJoinAndCompute: Builtin = {
  name: "builtin-private-join-and-compute",
  descriptor: {
    summary:
      "for the ids present in every party's `id : amount` lines, the sum of their amounts; every party gets the result",
    arguments: pjcArgs,
    inputs: ["input_data0", "…", "input_data<num_user-1>"],
    outputs: ["output_data0", "…", "output_data<num_user-1>"],
  },
  async run(raw, { runtime, offload }) {
    const { num_user } = parseArgs(pjcArgs, raw);
    if (num_user < 2) throw new TaskFailure("The demo requires at least two parties!");
    const inputs: Buffer[] = [];
    for (let i = 0; i < num_user; i++) inputs.push(await runtime.readInput(`input_data${i}`));
    const result = asBuffer(await offload("privateJoinAndCompute", inputs));
    for (let i = 0; i < num_user; i++) await runtime.writeOutput(`output_data${i}`, result);
    return `${num_user} users join the task in total.`;
  },
};
