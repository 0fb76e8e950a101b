// Every JS/React snippet of the seed compiles against the SDK, imported as `@reactor-team/js-sdk`.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const js = fileURLToPath(new URL("..", import.meta.url));
const dir = new URL("./snippets/", import.meta.url);
// CI checks the repository out next to ../shared (the seed lives there).
const seed = fileURLToPath(new URL("../../../shared/seed/snippets.md", import.meta.url));

function body(file: string): string {
  const text = readFileSync(new URL(file, dir), "utf8");
  const m = /\/\/ --- snippet ---\n([\s\S]*?)\n\/\/ --- end ---/.exec(text);
  if (!m) throw new Error(`${file} has no snippet markers`);
  return m[1]!;
}

describe("seed snippets J1-J7", () => {
  const files = readdirSync(dir).filter((f) => /^j\d\.tsx?$/.test(f)).sort();

  it("are all present", () => {
    expect(files.map((f) => f.replace(/\.tsx?$/, ""))).toEqual(["j1", "j2", "j3", "j4", "j5", "j6", "j7"]);
  });

  it.skipIf(!existsSync(seed))("are verbatim copies of the seed's snippets", () => {
    const md = readFileSync(seed, "utf8");
    for (const f of files) expect(md.includes(body(f)), `${f} differs from snippets.md`).toBe(true);
  });

  it("type-check (tsc --noEmit, with the e2e app and the playground)", () => {
    try {
      execFileSync(process.execPath, [fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url)), "-p", "tsconfig.apps.json"], {
        cwd: js,
        stdio: "pipe",
      });
    } catch (e) {
      throw new Error(String((e as { stdout?: Buffer }).stdout ?? e));
    }
  });
});
