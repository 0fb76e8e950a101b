// The openreactor playground: live video, commands from the model's schema, uploads, webcam.
// Local mode (served by `openreactor serve`) joins or starts the one local session; cloud mode
// (served by an app server, see cloud.ts) creates its own session with a short-lived JWT.
import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { createRoot } from "react-dom/client";

import {
  ReactorProvider,
  ReactorView,
  WebcamStream,
  isFileRef,
  useReactor,
  useReactorMessage,
  useStats,
  type FileRef,
} from "@reactor-team/js-sdk";

import { createTokenSource, readPlaygroundConfig } from "./cloud.js";
import { modelFromSchema, type CommandSpec, type JsonSchema, type ModelInfo } from "./schema.js";
import "./style.css";

async function loadLocalModel(): Promise<ModelInfo> {
  return modelFromSchema(await (await fetch("/schema")).json());
}

function typeOf(schema: JsonSchema): string {
  if (schema.$ref?.endsWith("ReactorUploadReference") || schema.format === "reactor-upload-reference") return "file";
  if (schema.enum) return "enum";
  if (schema.anyOf) {
    const inner = schema.anyOf.find((s) => s.type !== "null");
    return inner ? typeOf(inner) : "string";
  }
  const t = Array.isArray(schema.type) ? schema.type.find((x) => x !== "null") : schema.type;
  return t ?? "string";
}

function Status(): ReactNode {
  const { status, sessionId, reconnect, connect, disconnect } = useReactor((s) => ({
    status: s.status,
    sessionId: s.sessionId,
    reconnect: s.reconnect,
    connect: s.connect,
    disconnect: s.disconnect,
  }));
  const stats = useStats();
  useEffect(() => {
    document.body.dataset.status = status;
  }, [status]);
  useEffect(() => {
    if (sessionId) document.body.dataset.sessionId = sessionId;
    else delete document.body.dataset.sessionId;
  }, [sessionId]);
  return (
    <div className="bar">
      <span className={`badge ${status}`}>{status}</span>
      <span className="muted">{sessionId ? `session ${sessionId.slice(0, 8)}` : "no session"}</span>
      {stats?.framesPerSecond !== undefined ? (
        <span className="muted">
          {stats.framesPerSecond.toFixed(0)} fps
          {stats.incomingBitrate !== undefined ? ` · ${(stats.incomingBitrate / 1e6).toFixed(2)} Mbit/s` : ""}
          {stats.rtt !== undefined ? ` · rtt ${stats.rtt.toFixed(0)} ms` : ""}
        </span>
      ) : null}
      <span className="spacer" />
      {status === "disconnected" && sessionId ? <button onClick={() => reconnect()}>Reconnect</button> : null}
      {status === "disconnected" && !sessionId ? <button onClick={() => connect()}>Connect</button> : null}
      {status === "ready" ? <button onClick={() => reconnect({ force: true })}>Reconnect</button> : null}
      {status !== "disconnected" ? <button onClick={() => disconnect(true)}>Pause</button> : null}
      {sessionId ? <button onClick={() => disconnect()}>End session</button> : null}
    </div>
  );
}

function Errors(): ReactNode {
  const { lastError, clearError } = useReactor((s) => ({ lastError: s.lastError, clearError: s.clearError }));
  if (!lastError) return null;
  return (
    <div className="error" role="alert">
      <b>
        [{lastError.component}:{lastError.code}]
      </b>{" "}
      {lastError.message}
      {lastError.recoverable ? <span className="muted"> (recoverable)</span> : null}
      <button className="link" onClick={clearError}>
        dismiss
      </button>
    </div>
  );
}

function PromptBox(): ReactNode {
  const { sendCommand, status } = useReactor((s) => ({ sendCommand: s.sendCommand, status: s.status }));
  const [prompt, setPrompt] = useState("a forest at dawn");
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    void sendCommand("set_prompt", { prompt });
  };
  return (
    <form className="prompt" onSubmit={submit}>
      <input name="prompt" value={prompt} onChange={(e) => setPrompt(e.target.value)} placeholder="Describe the scene…" />
      <button disabled={status !== "ready"}>Send prompt</button>
    </form>
  );
}

function CommandForm({ command }: { command: CommandSpec }): ReactNode {
  const { sendCommand, uploadFile, status } = useReactor((s) => ({ sendCommand: s.sendCommand, uploadFile: s.uploadFile, status: s.status }));
  const [values, setValues] = useState<Record<string, unknown>>(() =>
    Object.fromEntries(Object.entries(command.properties).map(([k, s]) => [k, s.default ?? (typeOf(s) === "boolean" ? false : "")])),
  );
  const [busy, setBusy] = useState(false);
  const set = (k: string, v: unknown): void => setValues((old) => ({ ...old, [k]: v }));
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    const data: Record<string, unknown> = {};
    for (const [k, schema] of Object.entries(command.properties)) {
      const v = values[k];
      if (v === "" || v === undefined) continue;
      const t = typeOf(schema);
      data[k] = t === "integer" ? Math.round(Number(v)) : t === "number" ? Number(v) : v;
    }
    setBusy(true);
    try {
      await sendCommand(command.name, data);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="command" onSubmit={(e) => void submit(e)}>
      <div className="command-name" title={command.summary}>
        {command.name}
      </div>
      {Object.entries(command.properties).map(([k, schema]) => {
        const t = typeOf(schema);
        const label = `${k}${command.required.includes(k) ? " *" : ""}`;
        let input: ReactNode;
        if (t === "boolean") {
          input = <input type="checkbox" name={k} checked={Boolean(values[k])} onChange={(e) => set(k, e.target.checked)} />;
        } else if (t === "enum") {
          input = (
            <select name={k} value={String(values[k] ?? "")} onChange={(e) => set(k, e.target.value)}>
              <option value="" />
              {(schema.enum ?? schema.anyOf?.find((s) => s.enum)?.enum ?? []).map((o) => (
                <option key={String(o)}>{String(o)}</option>
              ))}
            </select>
          );
        } else if (t === "file") {
          const ref = values[k];
          input = (
            <input
              type="file"
              name={k}
              disabled={status !== "ready"}
              onChange={(e) => {
                const f = e.target.files?.[0];
                if (f) void uploadFile(f).then((r) => set(k, r), () => undefined);
              }}
              title={isFileRef(ref) ? `${ref.name} (${ref.size} bytes)` : ""}
            />
          );
        } else if (t === "integer" || t === "number") {
          input = (
            <input
              type="number"
              name={k}
              step={t === "integer" ? 1 : "any"}
              min={schema.minimum}
              max={schema.maximum}
              value={String(values[k] ?? "")}
              onChange={(e) => set(k, e.target.value)}
            />
          );
        } else if (t === "object" || t === "array") {
          input = <input name={k} placeholder="JSON" value={String(values[k] ?? "")} onChange={(e) => set(k, safeJson(e.target.value))} />;
        } else {
          input = <input name={k} value={String(values[k] ?? "")} onChange={(e) => set(k, e.target.value)} />;
        }
        return (
          <label key={k} title={schema.description}>
            <span>{label}</span>
            {input}
          </label>
        );
      })}
      <button disabled={status !== "ready" || busy}>Send {command.name}</button>
    </form>
  );
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function FreeCommand(): ReactNode {
  const { sendCommand, uploadFile, status } = useReactor((s) => ({ sendCommand: s.sendCommand, uploadFile: s.uploadFile, status: s.status }));
  const [name, setName] = useState("hello");
  const [data, setData] = useState('{"text": "hi"}');
  const [file, setFile] = useState<FileRef | undefined>();
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(data || "{}") as Record<string, unknown>;
    } catch {
      parsed = { text: data };
    }
    void sendCommand(name, file ? { ...parsed, file } : parsed);
  };
  return (
    <form className="command" onSubmit={submit}>
      <div className="command-name">any command</div>
      <label>
        <span>name</span>
        <input name="command" value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        <span>data (JSON)</span>
        <input name="data" value={data} onChange={(e) => setData(e.target.value)} />
      </label>
      <label>
        <span>file</span>
        <input
          type="file"
          name="file"
          disabled={status !== "ready"}
          onChange={(e) => {
            const f = e.target.files?.[0];
            if (f) void uploadFile(f).then(setFile, () => undefined);
          }}
        />
      </label>
      <button disabled={status !== "ready"}>Send {name || "command"}</button>
    </form>
  );
}

function Messages(): ReactNode {
  const [lines, setLines] = useState<string[]>([]);
  useReactorMessage((m) => setLines((old) => [JSON.stringify(m), ...old].slice(0, 20)));
  return (
    <div className="panel">
      <h3>Messages from the model</h3>
      {lines.length === 0 ? <div className="muted">none yet</div> : null}
      <pre className="messages">{lines.join("\n")}</pre>
    </div>
  );
}

function App({ model, where, note }: { model: ModelInfo; where?: string; note?: ReactNode }): ReactNode {
  const [webcam, setWebcam] = useState(false);
  const hasPrompt = model.commands.some((c) => c.name === "set_prompt");
  return (
    <div className="page">
      <header>
        <h1>
          openreactor <span className="muted">/</span> {model.name}
          {where ? <span className="muted"> · {where}</span> : null}
        </h1>
        <p className="muted">{model.description}</p>
      </header>
      <Status />
      <Errors />
      <div className="main">
        <div className="stage">
          <ReactorView className="video" videoObjectFit="contain" />
          {webcam ? <WebcamStream track={model.inputs[0]!} className="webcam" /> : null}
        </div>
        <aside>
          {note}
          {hasPrompt ? <PromptBox /> : null}
          {model.commands
            .filter((c) => !(hasPrompt && c.name === "set_prompt"))
            .map((c) => (
              <CommandForm key={c.name} command={c} />
            ))}
          {model.acceptsAny ? <FreeCommand /> : null}
          {model.inputs.length > 0 ? (
            <label className="toggle">
              <input type="checkbox" name="webcam" checked={webcam} onChange={(e) => setWebcam(e.target.checked)} /> Publish my camera as{" "}
              <code>{model.inputs[0]}</code>
            </label>
          ) : null}
          <Messages />
        </aside>
      </div>
    </div>
  );
}

/**
 * Cloud mode's command forms. Our server publishes the model's schema at `{api}/schema` (no token
 * needed); a server without that route is asked over the data channel once connected.
 */
function useCloudModel(apiUrl: string): ModelInfo | undefined {
  const { status, reactor } = useReactor((s) => ({ status: s.status, reactor: s.internal.reactor }));
  const [model, setModel] = useState<ModelInfo | undefined>();
  const [noHttpSchema, setNoHttpSchema] = useState(false);
  useEffect(() => {
    let live = true;
    fetch(`${apiUrl}/schema`)
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then(
        (doc: unknown) => live && setModel(modelFromSchema(doc)),
        () => live && setNoHttpSchema(true),
      );
    return () => {
      live = false;
    };
  }, [apiUrl]);
  useEffect(() => {
    if (!noHttpSchema || status !== "ready" || model) return;
    let live = true;
    reactor.getSchema().then(
      (doc) => live && setModel(modelFromSchema(doc)),
      (exc: unknown) => console.warn("[playground] no model schema", exc),
    );
    return () => {
      live = false;
    };
  }, [noHttpSchema, status, reactor, model]);
  return model;
}

function CloudApp({ modelName, apiUrl }: { modelName: string; apiUrl: string }): ReactNode {
  const model = useCloudModel(apiUrl);
  const shown = model ?? { name: modelName, description: "", commands: [], acceptsAny: false, inputs: [] };
  const note = model ? null : <div className="muted">The model's commands appear once its schema has arrived.</div>;
  return <App model={shown} where={`cloud · ${new URL(apiUrl).host}`} note={note} />;
}

async function main(): Promise<void> {
  const root = createRoot(document.getElementById("root")!);
  try {
    const config = readPlaygroundConfig(document);
    document.body.dataset.mode = config.mode;
    if (config.mode === "cloud") {
      // The app server's token route keeps the API key; the SDK asks the source before every
      // request and the source fetches a fresh JWT only when the cached one is about to expire.
      const tokens = createTokenSource(config.tokenEndpoint);
      root.render(
        <ReactorProvider modelName={config.modelName} apiUrl={config.apiUrl} getJwt={tokens.get} connectOptions={{ autoConnect: true }}>
          <CloudApp modelName={config.modelName} apiUrl={config.apiUrl} />
        </ReactorProvider>,
      );
      return;
    }
    const model = await loadLocalModel();
    // Local mode hosts one session at a time: join the running one (e.g. started by another tab or
    // by the Python SDK) instead of failing with 409.
    const running = await fetch("/session").then((r) => (r.ok ? r.json() : null)).catch(() => null);
    const sessionId = typeof running?.session_id === "string" ? running.session_id : undefined;
    root.render(
      <ReactorProvider modelName={model.name} apiUrl={location.origin} local connectOptions={{ autoConnect: true, sessionId }}>
        <App model={model} />
      </ReactorProvider>,
    );
  } catch (exc) {
    root.render(<div className="error">cannot start the playground: {String(exc)}</div>);
  }
}

void main();
