#!/usr/bin/env bash
# Re-creates python/viperhttp_autodocs/assets from the npm registry (docs/internals/api-docs.md):
# swagger-ui-dist and redoc, minified files and their licences only, source-map comments
# stripped, and ReDoc's one remote image (its logo) replaced by an inline empty SVG so the
# pages load nothing from any host but the server's.
set -euo pipefail
cd "$(dirname "$0")/.."
SWAGGER=${SWAGGER:-swagger-ui-dist@5.35.0}
REDOC=${REDOC:-redoc@2.5.4}
OUT=python/viperhttp_autodocs/assets
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack -q "$SWAGGER" "$REDOC" >/dev/null && mkdir s r \
  && tar xzf swagger-ui-dist-*.tgz -C s && tar xzf redoc-*.tgz -C r)
mkdir -p "$OUT"
cp "$TMP"/s/package/{swagger-ui-bundle.js,swagger-ui.css,swagger-ui-bundle.js.LICENSE.txt,oauth2-redirect.js} "$OUT"/
cp "$TMP"/s/package/LICENSE "$OUT"/LICENSE.swagger-ui
cp "$TMP"/s/package/NOTICE "$OUT"/NOTICE.swagger-ui
cp "$TMP"/r/package/bundles/{redoc.standalone.js,redoc.standalone.js.LICENSE.txt} "$OUT"/
cp "$TMP"/r/package/LICENSE "$OUT"/LICENSE.redoc
sed -i '/^\/\/# sourceMappingURL=/d' "$OUT"/swagger-ui-bundle.js "$OUT"/redoc.standalone.js
sed -i 's|/\*# sourceMappingURL=[^*]*\*/||' "$OUT"/swagger-ui.css
sed -i 's#https://cdn.redoc.ly/redoc/logo-mini.svg#data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E#g' "$OUT"/redoc.standalone.js
ls -la "$OUT"
