// The App SDK (@modelcontextprotocol/ext-apps, its dependency-free app-with-deps build) as the views take
// it. The views share one copy: scripts/build-views bundles what this line names, once, into
// polar_mcp/views/app-sdk.js, a script that sets `polarMcpAppSdk`, and the server joins that script in
// front of a view's own code, in the view's one script, when it serves the view.
export const { App, applyDocumentTheme, applyHostFonts, applyHostStyleVariables } = polarMcpAppSdk;
