/** What the playground draws from a model's OpenAPI document (PROTOCOL.md §6.2): its command forms. */

export interface JsonSchema {
  type?: string | string[];
  description?: string;
  minimum?: number;
  maximum?: number;
  enum?: unknown[];
  default?: unknown;
  format?: string;
  $ref?: string;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

export interface CommandSpec {
  name: string;
  summary: string;
  properties: Record<string, JsonSchema>;
  required: string[];
}

export interface ModelInfo {
  name: string;
  description: string;
  commands: CommandSpec[];
  acceptsAny: boolean;
  inputs: string[];
}

interface OpenApiShape {
  info?: { title?: string; description?: string };
  paths?: Record<string, { post?: { operationId?: string; summary?: string; requestBody?: { content?: { "application/json"?: { schema?: JsonSchema } } } } }>;
  "x-reactor"?: { tracks?: { name: string; direction: string }[]; accepts_any_command?: boolean };
}

/** The same document comes from `GET /schema` (local mode) and from the data channel (cloud mode). */
export function modelFromSchema(document: unknown): ModelInfo {
  const doc = (document ?? {}) as OpenApiShape;
  const commands: CommandSpec[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    if (!path.startsWith("/events/") || !item.post) continue;
    const schema = item.post.requestBody?.content?.["application/json"]?.schema ?? {};
    commands.push({
      name: item.post.operationId ?? path.slice("/events/".length),
      summary: item.post.summary ?? "",
      properties: schema.properties ?? {},
      required: schema.required ?? [],
    });
  }
  return {
    name: doc.info?.title ?? "model",
    description: doc.info?.description ?? "",
    commands,
    acceptsAny: doc["x-reactor"]?.accepts_any_command ?? commands.length === 0,
    inputs: (doc["x-reactor"]?.tracks ?? []).filter((t) => t.direction === "in").map((t) => t.name),
  };
}
