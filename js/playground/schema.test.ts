import { describe, expect, it } from "vitest";

import { modelFromSchema } from "./schema.js";

describe("modelFromSchema", () => {
  it("lists the commands, the free-command flag and the input tracks", () => {
    const doc = {
      info: { title: "probe", description: "PROBE.md pattern" },
      "x-reactor": {
        tracks: [
          { name: "main_video", kind: "video", direction: "out" },
          { name: "webcam", kind: "video", direction: "in" },
        ],
        accepts_any_command: false,
      },
      paths: {
        "/events/set_value": {
          post: {
            operationId: "set_value",
            summary: "Show a value",
            requestBody: { content: { "application/json": { schema: { properties: { value: { type: "integer" } }, required: ["value"] } } } },
          },
        },
        "/other": { get: {} },
      },
    };
    expect(modelFromSchema(doc)).toEqual({
      name: "probe",
      description: "PROBE.md pattern",
      commands: [{ name: "set_value", summary: "Show a value", properties: { value: { type: "integer" } }, required: ["value"] }],
      acceptsAny: false,
      inputs: ["webcam"],
    });
  });

  it("copes with an empty document (a model that accepts any command)", () => {
    expect(modelFromSchema(undefined)).toEqual({ name: "model", description: "", commands: [], acceptsAny: true, inputs: [] });
  });
});
