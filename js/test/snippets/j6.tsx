// Seed J6 (§2.3.4), as shown (top-level await in a module).
// --- snippet ---
import { useReactor } from "@reactor-team/js-sdk";

const { disconnect, reconnect } = useReactor((s) => s);

// Terminate the session
await disconnect();

// Disconnect but keep the session alive on the server
await disconnect(true);
await reconnect();
// --- end ---
