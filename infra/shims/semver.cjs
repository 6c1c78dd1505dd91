// Build-time stand-in for `semver` in the Lambda bundles (infra/function.ts aliases it).
// Its only user there is jsonwebtoken, which asks at load whether the running Node is at least
// 8.0.0, 15.7.0 or 16.9.0 to enable key checks. The functions run on Node.js 24 only, so every
// such check holds; the real package would add about 28 KB to each bundle for three constants.
'use strict';
const [major = 0] = process.versions.node.split('.').map(Number);
module.exports = {
  satisfies(_version, range) {
    if (major < 24) throw new Error(`the semver stand-in only serves Node.js 24 or later (got ${process.version}, range ${range})`);
    return true;
  },
};
