import { createContext, useContext } from "react";

import type { ReactorStore } from "./store.js";

export const ReactorContext = createContext<ReactorStore | null>(null);

export function useStoreContext(hook = "useReactor"): ReactorStore {
  const store = useContext(ReactorContext);
  if (store === null) throw new Error(`${hook} must be used within a ReactorProvider`);
  return store;
}
