// Seed J4 (§2.3.4), as shown.
// --- snippet ---
import { useReactor } from "@reactor-team/js-sdk";

function Controls() {
  const { sendCommand, status } = useReactor((s) => s);
  return (
    <button
      disabled={status !== "ready"}
      onClick={() => sendCommand("set_prompt", { prompt: "a forest at dawn" })}
    >
      Set prompt
    </button>
  );
}
// --- end ---
export { Controls };
