/** The React layer's store: a zustand vanilla store fed by one `Reactor`'s events. */

import { createStore, type StoreApi } from "zustand/vanilla";

import { isReactorError, type ReactorError } from "../errors.js";
import type { FileRef } from "../fileRef.js";
import type { ConnectOptions, ModelMessage, Reactor, ReactorStatus, ReconnectOptions, UploadOptions } from "../reactor.js";

export interface ProviderConnectOptions {
  autoConnect?: boolean;
  maxAttempts?: number;
  /** Adopt this running session instead of creating one. */
  sessionId?: string;
}

export interface ReactorState {
  status: ReactorStatus;
  lastError: ReactorError | undefined;
  tracks: Record<string, MediaStreamTrack>;
  sessionId: string | undefined;
  sessionExpiration: number | undefined;
  jwtToken: string | undefined;
  connectOptions: ProviderConnectOptions;
  internal: { reactor: Reactor };

  sendCommand: (command: string, data: unknown, scope?: "application" | "runtime") => Promise<ModelMessage | undefined>;
  connect: (jwt?: string, options?: ConnectOptions) => Promise<void>;
  disconnect: (recoverable?: boolean) => Promise<void>;
  reconnect: (options?: ReconnectOptions) => Promise<void>;
  uploadFile: (file: Blob, options?: UploadOptions) => Promise<FileRef>;
  publish: (name: string, track: MediaStreamTrack) => Promise<void>;
  unpublish: (name: string) => Promise<void>;
  pauseTrack: (name: string) => Promise<void>;
  resumeTrack: (name: string) => Promise<void>;
  clearError: () => void;
}

export type ReactorStore = StoreApi<ReactorState>;

export interface StoreInputs {
  /** The provider's current token and options, read at the moment they are needed. */
  token: () => { jwtToken?: string | undefined; getJwt?: (() => string | Promise<string>) | undefined };
  connectOptions: () => ProviderConnectOptions;
}

/** Build the store for `reactor`; returns it with the function that unsubscribes from the client. */
export function createReactorStore(reactor: Reactor, inputs: StoreInputs): { store: ReactorStore; detach: () => void } {
  const store = createStore<ReactorState>()((set) => {
    // Every action returns the client's promise with a rejection handler already attached, so
    // fire-and-forget calls never raise unhandled rejections; the error lands in lastError.
    const tracked = <T>(promise: Promise<T>): Promise<T> => {
      promise.catch((error: unknown) => {
        if (isReactorError(error) && error.code === "ABORTED") return;
        if (isReactorError(error)) set({ lastError: error });
      });
      return promise;
    };
    const attempt = <T>(fn: () => Promise<T>): Promise<T> => {
      try {
        return tracked(fn());
      } catch (exc) {
        return tracked(Promise.reject(exc as Error));
      }
    };
    return {
      status: reactor.getStatus(),
      lastError: undefined,
      tracks: {},
      sessionId: reactor.getSessionId(),
      sessionExpiration: undefined,
      jwtToken: inputs.token().jwtToken,
      connectOptions: inputs.connectOptions(),
      internal: { reactor },
      sendCommand: (command, data, scope) => attempt(() => reactor.sendCommand(command, data, scope)),
      connect: (jwt, options) =>
        attempt(async () => {
          // Without an explicit token the client falls back to the provider's getJwt / jwtToken
          // per request (see ReactorProvider); pinning one here would outlive a short-lived token.
          const defaults = inputs.connectOptions();
          const maxAttempts = options?.maxAttempts ?? defaults.maxAttempts;
          const sessionId = options?.sessionId ?? defaults.sessionId;
          return reactor.connect(jwt, {
            ...options,
            ...(maxAttempts !== undefined ? { maxAttempts } : {}),
            ...(sessionId !== undefined ? { sessionId } : {}),
          });
        }),
      disconnect: (recoverable) => attempt(() => reactor.disconnect(recoverable)),
      reconnect: (options) => attempt(() => reactor.reconnect(options)),
      uploadFile: (file, options) => attempt(() => reactor.uploadFile(file, options)),
      publish: (name, track) => attempt(() => reactor.publishTrack(name, track)),
      unpublish: (name) => attempt(() => reactor.unpublishTrack(name)),
      pauseTrack: (name) => attempt(() => reactor.pauseTrack(name)),
      resumeTrack: (name) => attempt(() => reactor.resumeTrack(name)),
      clearError: () => set({ lastError: undefined }),
    };
  });
  const offs = [
    reactor.on("statusChanged", (status) => {
      if (status === "connecting") store.setState({ status, lastError: undefined });
      else if (status === "disconnected") store.setState({ status, tracks: {} });
      else store.setState({ status });
    }),
    reactor.on("error", (error) => store.setState({ lastError: error })),
    reactor.on("sessionIdChanged", (sessionId) => store.setState({ sessionId })),
    reactor.on("sessionExpirationChanged", (sessionExpiration) => store.setState({ sessionExpiration })),
    reactor.on("trackReceived", (name, track) => store.setState((s) => ({ tracks: { ...s.tracks, [name]: track } }))),
    reactor.on("trackRemoved", (name) =>
      store.setState((s) => {
        if (!(name in s.tracks)) return s;
        const tracks = { ...s.tracks };
        delete tracks[name];
        return { tracks };
      }),
    ),
  ];
  return { store, detach: () => offs.forEach((off) => off()) };
}
