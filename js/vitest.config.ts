import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  // The playground imports the SDK under the name apps use (as its Vite build does).
  resolve: {
    alias: [{ find: /^@reactor-team\/js-sdk$/, replacement: fileURLToPath(new URL("./src/index.ts", import.meta.url)) }],
  },
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx", "test/**/*.test.ts", "playground/**/*.test.ts"],
    environment: "node",
    testTimeout: 60_000,
  },
});
