// The playground served by `openreactor serve` at `/`; built into the Python package.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const src = (p: string): string => fileURLToPath(new URL(`../src/${p}`, import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/playground/",
  logLevel: "warn",
  resolve: {
    alias: [{ find: /^@reactor-team\/js-sdk$/, replacement: src("index.ts") }],
  },
  build: {
    outDir: fileURLToPath(new URL("../../src/openreactor/playground", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    rollupOptions: {
      onwarn(warning, warn) {
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
      output: {
        entryFileNames: "assets/playground.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
      },
    },
  },
});
