"use client";
// The React layer (needs react and zustand).
export { ReactorProvider, type ReactorProviderProps } from "./react/provider.js";
export { ReactorView, type ReactorViewProps } from "./react/ReactorView.js";
export { WebcamStream, type WebcamStreamProps } from "./react/WebcamStream.js";
export { useReactor, useReactorStore, useReactorMessage, useReactorInternalMessage, useStats } from "./react/hooks.js";
export type { ReactorState, ReactorStore } from "./react/store.js";
