import { useEffect, useMemo, useRef, type ReactNode } from "react";

import { Reactor } from "../reactor.js";
import { ReactorContext } from "./context.js";
import { createReactorStore, type ProviderConnectOptions } from "./store.js";

export interface ReactorProviderProps {
  modelName: string;
  jwtToken?: string;
  getJwt?: () => string | Promise<string>;
  apiUrl?: string;
  local?: boolean;
  connectOptions?: ProviderConnectOptions;
  children?: ReactNode;
}

/** Clients whose teardown is scheduled; a remount within the same tick (StrictMode) cancels it. */
const pendingTeardown = new Map<Reactor, ReturnType<typeof setTimeout>>();

/**
 * Owns one `Reactor` and one store. Only `modelName`, `apiUrl` and `local` rebuild the client;
 * token and connect options are read through refs when needed and never end a live session.
 */
export function ReactorProvider(props: ReactorProviderProps): ReactNode {
  const { modelName, apiUrl, local, children } = props;
  const latest = useRef(props);
  latest.current = props;

  const client = useMemo(() => {
    const reactor = new Reactor({
      modelName,
      ...(apiUrl !== undefined ? { apiUrl } : {}),
      ...(local !== undefined ? { local } : {}),
      // Asked before every request (not once per connect), so a short-lived token from getJwt is
      // renewed for reconnects and uploads long after the first connect.
      getJwt: async () => {
        const { getJwt, jwtToken } = latest.current;
        return (getJwt ? await getJwt() : jwtToken) ?? "";
      },
    });
    return {
      reactor,
      ...createReactorStore(reactor, {
        token: () => ({ jwtToken: latest.current.jwtToken, getJwt: latest.current.getJwt }),
        connectOptions: () => latest.current.connectOptions ?? {},
      }),
    };
  }, [modelName, apiUrl, local]);

  // Mirror the props the store exposes (no reconnect on change).
  useEffect(() => {
    client.store.setState({ jwtToken: props.jwtToken, connectOptions: props.connectOptions ?? {} });
  }, [client, props.jwtToken, props.connectOptions]);

  useEffect(() => {
    const { reactor, store, detach } = client;
    const pending = pendingTeardown.get(reactor);
    if (pending !== undefined) {
      clearTimeout(pending);
      pendingTeardown.delete(reactor);
    }
    if (latest.current.connectOptions?.autoConnect && reactor.getStatus() === "disconnected" && reactor.getSessionId() === undefined) {
      void store.getState().connect();
    }
    const onPageHide = (): void => reactor.closeForUnload();
    window.addEventListener("pagehide", onPageHide);
    return () => {
      window.removeEventListener("pagehide", onPageHide);
      pendingTeardown.set(
        reactor,
        setTimeout(() => {
          pendingTeardown.delete(reactor);
          detach();
          void reactor.disconnect();
        }, 0),
      );
    };
  }, [client]);

  return <ReactorContext.Provider value={client.store}>{children}</ReactorContext.Provider>;
}
