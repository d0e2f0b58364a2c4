// scripts/check-rules-schema: node examples.js BUILD_DIR SCHEMA
// Every "examples" entry of docs/rules.schema.json is valid under the schema it illustrates.
const path = require("path");
const Ajv = require(path.resolve(process.argv[2], "node_modules/ajv"));
const schema = require(path.resolve(process.argv[3]));
const ajv = new Ajv({strict: true, strictRequired: false, allowUnionTypes: true, allErrors: true});
let checked = 0, bad = 0;
function walk(node, where) {
  if (Array.isArray(node)) { node.forEach((n, i) => walk(n, where + "/" + i)); return; }
  if (node === null || typeof node !== "object") return;
  if (Array.isArray(node.examples)) {
    const {$schema, ...rest} = node;
    const validate = ajv.compile(rest);
    node.examples.forEach((example, i) => {
      checked++;
      if (!validate(example)) {
        bad++;
        console.error(`${where}/examples/${i}: ${ajv.errorsText(validate.errors)}`);
      }
    });
  }
  for (const [key, value] of Object.entries(node)) {
    if (key !== "examples") walk(value, where + "/" + key);
  }
}
walk(schema, "#");
console.error(`${checked} examples in the schema checked, ${bad} invalid`);
process.exit(bad ? 1 : 0);
