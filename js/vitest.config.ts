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
    // Bounds for a broken build, not speed checks: a hook may run tsc (the package test), which
    // takes well over vitest's 10 s default on a loaded 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
