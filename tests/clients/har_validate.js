// Validates a HAR file against the HAR 1.2 schema with the published har-validator package.
// Usage: node har_validate.js FILE.har — prints "valid N" or the schema errors (exit 1).
const fs = require("fs");
const validate = require("har-validator");
const har = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
validate
  .har(har)
  .then(() => console.log(`valid ${har.log.entries.length}`))
  .catch((error) => {
    console.log(JSON.stringify(error.errors || String(error)));
    process.exit(1);
  });
