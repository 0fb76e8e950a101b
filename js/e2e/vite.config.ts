// The e2e test app: imports the SDK through the specifier apps use, `@reactor-team/js-sdk`.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const src = (p: string): string => fileURLToPath(new URL(`../src/${p}`, import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL("./app", import.meta.url)),
  logLevel: "warn",
  resolve: {
    alias: [
      { find: /^@reactor-team\/js-sdk\/core$/, replacement: src("core.ts") },
      { find: /^@reactor-team\/js-sdk\/react$/, replacement: src("react.ts") },
      { find: /^@reactor-team\/js-sdk$/, replacement: src("index.ts") },
    ],
  },
  build: {
    outDir: fileURLToPath(new URL("./.dist", import.meta.url)),
    emptyOutDir: true,
    minify: false,
    sourcemap: true,
    target: "es2022",
    rollupOptions: {
      onwarn(warning, warn) {
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return; // "use client" is for RSC bundlers
        warn(warning);
      },
    },
  },
});
