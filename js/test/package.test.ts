// The built package as an app sees it: entry points resolve, and `./core` loads no React.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const js = fileURLToPath(new URL("..", import.meta.url));

function importsOf(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(/(?:import|export)[^"']*?from\s*["']([^"']+)["']/g)) {
    const spec = m[1]!;
    if (spec.startsWith(".")) importsOf(resolve(dirname(file), spec), seen);
    else seen.add(spec);
  }
  return seen;
}

describe("the built package", () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(js, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], { cwd: js, stdio: "pipe" });
  });

  it("has the subpath exports . ./core ./react with types", () => {
    const pkg = JSON.parse(readFileSync(join(js, "package.json"), "utf8")) as { exports: Record<string, { types?: string; import?: string }> };
    for (const entry of [".", "./core", "./react"]) {
      expect(pkg.exports[entry]?.types).toMatch(/\.d\.ts$/);
      expect(readFileSync(join(js, pkg.exports[entry]!.import!), "utf8").length).toBeGreaterThan(0);
    }
  });

  it("./core imports neither react nor zustand, and no library file reads process.env", () => {
    const graph = [...importsOf(join(js, "dist/core.js"))];
    expect(graph.filter((s) => /^(react|zustand)/.test(s))).toEqual([]);
    for (const f of importsOf(join(js, "dist/index.js"))) {
      if (f.endsWith(".js")) expect(readFileSync(f, "utf8")).not.toMatch(/process\.env/);
    }
  });

  it("./core loads in plain Node through the package name", async () => {
    const core = (await import("@openreactor/js-sdk/core")) as typeof import("../src/core.js");
    expect(typeof core.Reactor).toBe("function");
    expect(new core.Reactor({ modelName: "m" }).getStatus()).toBe("disconnected");
  });

  it("the React entry keeps its \"use client\" directive", () => {
    expect(readFileSync(join(js, "dist/react.js"), "utf8").startsWith('"use client"')).toBe(true);
    expect(readFileSync(join(js, "dist/index.js"), "utf8").startsWith('"use client"')).toBe(true);
  });
});
